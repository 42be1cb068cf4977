"""The analysis chain on real road data the product did not generate: OpenStreetMap roads of Andorra.

Imported through the CLI as a GIS technician would (`--profile osm`); a depot per parish, placed by the test on
the driven road nearest the parish's centre. Joined at their end points only (as up to migration 0011), these
roads made 716 parts, the largest 15 % of the km; noded, the driven network is one part but for what the
missing Canillo parish cuts off (Pas de la Casa, reached from the rest only through Canillo).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gis_patrimoine.analysis.network import component_sizes_from_roads, network_report
from gis_patrimoine.analysis.rounds import RoundRequest, plan_rounds
from gis_patrimoine.db.connection import with_dbname
from tests.conftest import create_clone, drop_database
from tests.test_migrations import run_cli

pytestmark = pytest.mark.slow

DEPOTS_SQL = """
INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom)
SELECT c.insee, 'test', c.insee, 'Dépôt ' || c.name, ARRAY['lighting', 'green_spaces', 'roads', 'buildings'], 2,
       ST_ClosestPoint(e.geom, ST_PointOnSurface(c.geom))
FROM patrimoine.commune c CROSS JOIN LATERAL (
    SELECT geom FROM analysis.network_edge e WHERE e.drivable AND e.commune_insee = c.insee
    ORDER BY e.geom <-> ST_PointOnSurface(c.geom) LIMIT 1) e
"""


@pytest.fixture(scope="module")
def andorra(server_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Parishes, roads and green spaces of Andorra imported by the CLI, and a depot per parish."""
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "andorra"
    name = create_clone(server_url, template_db, prefix="gp_andorra")
    url = with_dbname(server_url, name)
    reports = tmp_path_factory.mktemp("andorra-reports")
    steps = [
        ("import", "communes", str(data / "parishes.shp")),
        ("import", "roads", str(data / "roads.shp"), "--profile", "osm", "--id-field", "osm_id", "--skip-refused"),
        ("import", "green_spaces", str(data / "green_spaces.shp"), "--profile", "osm", "--id-field", "osm_way_id",
         "--skip-refused"),
    ]  # fmt: skip
    for args in steps:
        done = run_cli(*args, "--report", str(reports), url=url) if args[1] != "communes" else run_cli(*args, url=url)
        assert done.returncode == 0, done.stdout + done.stderr
    network = run_cli("analyse", "network", url=url)  # builds the network; the depots are placed on it
    assert network.returncode == 0, network.stderr
    with psycopg.connect(url) as conn:
        conn.execute(DEPOTS_SQL)
        conn.commit()
    yield url
    drop_database(server_url, name)


def test_noding_joins_the_real_network(andorra: str) -> None:
    with psycopg.connect(andorra) as conn:
        ends_only = component_sizes_from_roads(conn)
        report = network_report(conn)
    assert len(ends_only) > 700 and ends_only[0] < 0.2 * report["roads"]  # what the end points alone gave
    parts = report["components"]
    largest, second = parts[0], parts[1]
    # the only sizeable part apart is Pas de la Casa (Encamp), linked to the rest through Canillo, missing here:
    # its roads reach the territory's edge, where the import refused the roads outside every parish
    assert second["communes"] == ["ENCAMP"] and second["reaches_territory_edge"] and second["km"] > 20
    assert all(p["km"] < 1.0 for p in parts[2:])
    cut_off = sum(p["km"] for p in parts[1:] if p["reaches_territory_edge"])
    assert largest["km"] >= 0.95 * (report["km"] - cut_off)
    assert largest["km"] >= 0.90 * report["km"]
    assert set(largest["communes"]) == {
        "ANDORRA-LA-VELLA", "ENCAMP", "ESCALDES-ENGORDA", "LA-MASSANA", "ORDINO", "SANT-JULIA-DE-LO"
    }  # fmt: skip
    counts = report["issues"]["counts"]
    assert counts["joined"] > 0 and counts["near_miss"] > 0
    # roads on different levels (bridges, tunnels: OSM `layer`) were kept by the import
    with psycopg.connect(andorra) as conn:
        levels = dict(conn.execute("SELECT level, count(*) FROM patrimoine.road GROUP BY 1").fetchall())
        assert levels.get(1, 0) > 50 and levels.get(-1, 0) > 10
        # every piece keeps its road, and a road's pieces add up to it
        worst = conn.execute(
            "SELECT max(abs(r.length_m - s.total)) FROM patrimoine.road r JOIN (SELECT road_id, sum(length_m) total "
            "FROM analysis.network_edge WHERE road_id IS NOT NULL GROUP BY road_id) s ON s.road_id = r.id"
        ).fetchone()[0]
        assert worst < 1e-6


def _check_accounted(plan_summary: dict) -> None:
    s = plan_summary
    assert s["assets"] + s["assets_unreachable"] == s["assets_selected"]
    assert all(u["reason"] and u["assets"] for u in s["unreachable"])


def test_rounds_of_a_parish_sweeping_and_green_spaces_complete(andorra: str) -> None:
    with psycopg.connect(andorra) as conn:
        sweeping = plan_rounds(conn, RoundRequest("roads", "sweeping", ["ENCAMP"], iterations=300))
        mowing = plan_rounds(conn, RoundRequest("green_spaces", None, ["ANDORRA-LA-VELLA"], iterations=300))
    s = sweeping.summary()
    _check_accounted(s)
    assert s["rounds"] >= 1 and s["assets"] > 50
    # Encamp's streets of Pas de la Casa are listed, with their part of the network, not silently dropped
    assert any(u["part"] == 2 and "no road links to the depots' part 1" in u["reason"] for u in s["unreachable"])
    m = mowing.summary()
    _check_accounted(m)
    assert m["rounds"] >= 1 and m["assets"] == m["assets_selected"] > 0


def test_rounds_through_the_cli_list_what_cannot_be_reached(andorra: str) -> None:
    done = run_cli("analyse", "rounds", "roads", "--commune", "ENCAMP", "--seconds", "2", url=andorra)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cannot be reached" in done.stdout and "Not reachable from the depots" in done.stdout
    strict = run_cli("analyse", "rounds", "roads", "--commune", "ENCAMP", "--seconds", "1", "--strict", url=andorra)
    assert strict.returncode != 0 and "cannot be reached" in strict.stdout + strict.stderr


def test_compare_green_spaces_and_zones_roads_complete(andorra: str) -> None:
    compare = run_cli("analyse", "compare", "green_spaces", "--iterations", "100", url=andorra)
    assert compare.returncode == 0, compare.stdout + compare.stderr
    with psycopg.connect(andorra) as conn:
        result = conn.execute("SELECT result FROM analysis.scenario ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert result["alone"]["km"] > 0 and result["pooled"]["km"] > 0
    assert set(result["unreachable"]) == {"alone", "pooled"}
    zones = run_cli("analyse", "zones", "roads", "--size", "500", "--tolerance", "0.15", url=andorra)
    assert zones.returncode == 0, zones.stdout + zones.stderr
    with psycopg.connect(andorra) as conn:
        balanced = conn.execute(
            "SELECT count(*) FROM analysis.service_zone WHERE service = 'roads' AND variant = 'balanced'"
        ).fetchone()[0]
    assert balanced == 6  # one zone per parish depot
    report = run_cli("analyse", "network", url=andorra)
    assert "connected part(s)" in report.stdout and "near miss" in report.stdout
    assert json.dumps(result)  # stored as JSON


def test_the_diagnostic_on_real_communes(andorra: str, tmp_path: Path) -> None:
    """Real parishes (accented names, generated codes): the questionnaire lists them, names are read back."""
    from openpyxl import load_workbook

    from gis_patrimoine.analysis.diagnostic import diagnostic
    from gis_patrimoine.diagnostic.load import load_file, template

    with psycopg.connect(andorra) as conn:
        template(conn, tmp_path / "q.xlsx")
    wb = load_workbook(tmp_path / "q.xlsx")
    listed = [c.value for c in wb["Listes"]["A"] if c.value]
    assert "SANT-JULIA-DE-LO — Sant Julià de Lòria" in listed and len(listed) == 1 + 6 + 1  # header, agglo
    wb["Personnel"].append(["Sant Julià de Lòria", "Voirie", "Agent polyvalent", None, 3])  # by its name
    wb["Matériel"].append(["ENCAMP", "Dépôt Encamp", "Balayeuse 1", "Balayeuse", 2015, 150000, 8])
    wb.save(tmp_path / "filled.xlsx")
    with psycopg.connect(andorra) as conn:
        report = load_file(conn, tmp_path / "filled.xlsx")
        d = diagnostic(conn)
        conn.rollback()  # the module's database stays as the other tests expect it
    assert report.written == {"staff": 1, "equipment": 1}
    roads = {f["commune"]: f for f in d["figures"] if f["service"] == "roads"}
    assert roads["SANT-JULIA-DE-LO"]["posts"] == 3 and roads["SANT-JULIA-DE-LO"]["workload_h"] > 0
    assert roads["ENCAMP"]["posts"] is None  # Encamp sent machines, not staff: missing


def test_arrangements_on_real_parishes(andorra: str, tmp_path: Path) -> None:
    """The pooling arrangements on real data with no diagnostic answered: every figure from the catalogue's
    defaults, the parishes' rounds on OSM roads — and Pas de la Casa, cut off by the missing Canillo, listed
    as unreachable rather than stopping the comparison."""
    out = tmp_path / "arrangements.json"
    done = run_cli("analyse", "arrangements", "--iterations", "30", "--draws", "30", "--json", str(out),
                   "--report", str(tmp_path / "report.html"), url=andorra)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    names = [a["name"] for a in result["arrangements"]]
    assert names[0] == "status_quo" and "full_pooling" in names and "common_service" in names
    for a in result["arrangements"]:
        assert a["total_eur"] > 0 and a["range_eur"][0] <= a["total_eur"] <= a["range_eur"][1]
        assert {x.split("/")[0] for x in a["activities"]} == {"roads", "green_spaces"}
        assert not a["incomplete"], a["notes"]
        paid = sum(c["pays_eur"]["use"] for c in a["communes"])
        assert paid == pytest.approx(a["total_eur"], abs=len(a["communes"]))
    # Encamp's depot does not reach Pas de la Casa by road (only through Canillo, missing): alone, its streets
    # are listed, not planned; the other parishes' depots do not reach them either
    assert result["arrangements"][0]["unreachable_assets"] > 0
    assert "Pooling the technical services" in (tmp_path / "report.html").read_text(encoding="utf-8")
