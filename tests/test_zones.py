"""Pooling evidence on the demo territory: workload grid, isochrones and catchments, balanced zones and the
status quo, opportunities, equipment, lookup and the director's report — through the API where users call it."""

from __future__ import annotations

import html
import json

import httpx
import psycopg
import pytest

from gis_patrimoine.analysis.equipment import equipment, renewals
from gis_patrimoine.analysis.opportunities import rank
from gis_patrimoine.analysis.workload import totals, workload
from gis_patrimoine.analysis.zones import CannotBalance, zones
from gis_patrimoine.db.connection import with_dbname
from tests import writable
from tests.servers import add_token

demo_db, api = writable.demo_db, writable.api  # this module writes: its own clone of the demo

AUTH = {"Authorization": "Bearer token-analyst"}


@pytest.fixture(scope="module")
def analyst(demo_db: str) -> str:
    add_token(demo_db, "analyst", "reader")
    return demo_db


def test_grid_keeps_every_hour_across_boundaries(api: str, analyst: str) -> None:
    r = httpx.post(f"{api}/analysis/grid", json={"size_m": 700}, headers=AUTH, timeout=120)
    assert r.status_code == 201 and r.json()["cells"] > 0
    with psycopg.connect(analyst) as conn:
        expected: dict[str, float] = {}
        for (_, service), hours in totals(workload(conn)).items():
            expected[service] = expected.get(service, 0.0) + hours
        got = dict(conn.execute("SELECT service, sum(hours) FROM analysis.workload_hex WHERE size_m = 700 GROUP BY 1"))
        lights = conn.execute("SELECT count(*) FROM patrimoine.street_light").fetchone()[0]
        cells = conn.execute(
            "SELECT sum(assets) FROM analysis.workload_hex WHERE size_m = 700 AND service = 'lighting'"
        ).fetchone()[0]
        crossing = conn.execute(
            "SELECT count(*) FROM analysis.workload_hex WHERE size_m = 700 AND cardinality(communes) > 1"
        ).fetchone()[0]
    assert got.keys() == expected.keys()
    for service, hours in expected.items():
        assert got[service] == pytest.approx(hours, rel=1e-6), service
    assert cells == pytest.approx(lights)  # each light in exactly one cell
    assert crossing > 0  # cells straddle commune boundaries


def test_catchments_partition_the_territory_and_isochrones_grow(api: str, analyst: str) -> None:
    r = httpx.post(f"{api}/analysis/areas", json={"minutes": [5, 10]}, headers=AUTH, timeout=120)
    assert r.status_code == 201, r.text
    with psycopg.connect(analyst) as conn:
        territory = conn.execute("SELECT ST_Area(ST_Union(geom)) FROM patrimoine.commune").fetchone()[0]
        total, union = conn.execute(
            "SELECT sum(ST_Area(geom)), ST_Area(ST_Union(geom)) FROM analysis.depot_area WHERE kind = 'catchment'"
        ).fetchone()
        shrinking = conn.execute(
            "SELECT count(*) FROM analysis.depot_area a JOIN analysis.depot_area b ON a.depot_id = b.depot_id "
            "AND a.kind = 'isochrone' AND b.kind = 'isochrone' AND a.minutes < b.minutes "
            "WHERE ST_Area(a.geom) > ST_Area(b.geom) * 1.001"
        ).fetchone()[0]
        depots = conn.execute("SELECT count(*) FROM patrimoine.depot").fetchone()[0]
        isochrones = dict(
            conn.execute(
                "SELECT minutes, count(*) FROM analysis.depot_area WHERE kind = 'isochrone' GROUP BY 1"
            ).fetchall()
        )
        outside = conn.execute(  # the 5-minute area lies within the 10-minute one (give or take the outline)
            "SELECT count(*) FROM analysis.depot_area a JOIN analysis.depot_area b ON a.depot_id = b.depot_id "
            "AND a.kind = 'isochrone' AND b.kind = 'isochrone' AND a.minutes = 5 AND b.minutes = 10 "
            "WHERE ST_Area(ST_Difference(a.geom, b.geom)) > 0.01 * ST_Area(a.geom)"
        ).fetchone()[0]
    assert total == pytest.approx(territory, rel=1e-3)  # covers the territory ...
    assert union == pytest.approx(total, rel=1e-3)  # ... without overlaps
    assert isochrones == {5: depots, 10: depots} and depots > 1  # one per depot and per limit, stored
    assert shrinking == 0 and outside == 0


def test_balanced_zones_are_contiguous_and_within_tolerance(api: str, analyst: str) -> None:
    with psycopg.connect(analyst) as conn:
        candidates = [r[0] for r in conn.execute("SELECT id FROM patrimoine.depot WHERE crews >= 2 ORDER BY id")]
    body = {"service": "roads", "size_m": 500, "tolerance": 0.15, "depots": candidates}
    r = httpx.post(f"{api}/analysis/zones", json=body, headers=AUTH, timeout=120)
    assert r.status_code == 201, r.text
    result = r.json()
    balanced, status = result["balanced"], result["status_quo"]
    assert all(abs(z["deviation_pct"]) <= 15 + 1e-6 for z in balanced)
    # each zone says its longest drive and the communes it covers: over all zones, every commune once
    covered: dict[str, float] = {}
    for z in balanced:
        shares = z["commune_shares"] if isinstance(z["commune_shares"], dict) else json.loads(z["commune_shares"])
        assert sorted(shares) == sorted(z["communes"]) and z["longest_travel_min"] > 0
        for code, part in shares.items():
            covered[code] = covered.get(code, 0.0) + part
    assert len(covered) == 20 and all(abs(v - 1) <= 0.01 for v in covered.values()), covered
    # targets: the total hours × each zone's share of the crews
    total, crews = sum(z["hours"] for z in balanced), sum(z["crews"] for z in balanced)
    assert all(z["target_hours"] == pytest.approx(total * z["crews"] / crews, rel=1e-3) for z in balanced)
    assert sum(z["hours"] for z in balanced) == pytest.approx(sum(z["hours"] for z in status))
    with psycopg.connect(analyst) as conn:
        parts = conn.execute(
            "SELECT depot_id, ST_NumGeometries(geom) FROM analysis.service_zone WHERE run_id = %s AND "
            "variant = 'balanced'",
            (result["run_id"],),
        ).fetchall()
        inside = conn.execute(
            "SELECT bool_and(ST_Intersects(z.geom, d.geom)) FROM analysis.service_zone z "
            "JOIN patrimoine.depot d ON d.id = z.depot_id WHERE z.run_id = %s AND z.variant = 'balanced'",
            (result["run_id"],),
        ).fetchone()[0]
        road_hours = sum(h for (_, s), h in totals(workload(conn)).items() if s == "roads")
        depot = conn.execute(
            "SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(geom, 4326) g FROM patrimoine.depot WHERE id = %s) s",
            (candidates[0],),
        ).fetchone()
    assert all(n == 1 for _, n in parts)  # one piece each: contiguous
    assert inside  # each zone holds its depot
    assert sum(z["hours"] for z in balanced) == pytest.approx(road_hours, rel=1e-6)
    assert max(abs(z["deviation_pct"]) for z in status) > 15  # the status quo is what needed balancing here
    found = httpx.get(f"{api}/analysis/lookup", params={"lon": depot[0], "lat": depot[1], "service": "roads"}).json()
    assert found["zones"][0]["depot_id"] == candidates[0]

    with psycopg.connect(analyst) as conn, pytest.raises(CannotBalance, match="widen the tolerance"):
        zones(conn, "roads", 5000, 0.01, candidates)  # cells too coarse for 1 %
    r = httpx.post(f"{api}/analysis/zones", json={**body, "size_m": 5000, "tolerance": 0.01}, headers=AUTH, timeout=120)
    assert r.status_code == 422 and "cannot be balanced" in r.json()["description"]


def test_opportunities_are_ranked_by_their_rounds(api: str, analyst: str) -> None:
    r = httpx.post(
        f"{api}/analysis/opportunities", json={"service": "green_spaces", "top": 3}, headers=AUTH, timeout=300
    )
    assert r.status_code == 201, r.text
    ranked = r.json()["opportunities"]
    assert [m["rank"] for m in ranked] == list(range(1, len(ranked) + 1))
    assert [m["hours_saved"] for m in ranked] == sorted((m["hours_saved"] for m in ranked), reverse=True)
    items = httpx.get(f"{api}/collections/opportunities/items", params={"filter": "service = 'green_spaces'"}).json()
    assert items["numberMatched"] == len(ranked)


def test_a_misplaced_depot_is_found_as_an_opportunity(server_url: str, demo_source: str) -> None:
    """The generated demo puts every depot well: little to find. Put Changé's depot on its road farthest from
    its street lights (on a copy of the demo): those lights are then nearer Saint-Germain-le-Fouilloux's depot
    by road, and that pair must come first, saving hours."""
    from tests.conftest import create_clone, drop_database

    name = create_clone(server_url, demo_source, prefix="gp_opp")
    try:
        with psycopg.connect(with_dbname(server_url, name)) as conn:
            conn.execute(
                "UPDATE patrimoine.depot SET geom = (SELECT ST_StartPoint(r.geom) FROM patrimoine.road r, "
                "(SELECT ST_Centroid(ST_Collect(geom)) g FROM patrimoine.street_light WHERE commune_insee = '53054') c "
                "WHERE r.commune_insee = '53054' ORDER BY ST_Distance(ST_StartPoint(r.geom), c.g) DESC, r.id LIMIT 1) "
                "WHERE commune_insee = '53054'"
            )
            conn.commit()
            found = rank(conn, "lighting", top=3, iterations=50)
    finally:
        drop_database(server_url, name)
    assert found and found[0]["communes"] == ["53054", "53224"] and found[0]["hours_saved"] > 0
    assert [m["hours_saved"] for m in found] == sorted((m["hours_saved"] for m in found), reverse=True)


def test_equipment_days_follow_the_workload(api: str, analyst: str) -> None:
    with psycopg.connect(analyst) as conn:
        eq = equipment(conn)
    assert httpx.get(f"{api}/analysis/equipment", timeout=120).json()["equipment"] == eq["equipment"]
    with psycopg.connect(analyst) as conn:
        van = next(e for e in eq["equipment"] if e["equipment"] == "van")
        hours = conn.execute(
            "SELECT (SELECT count(*) * 6 / 60.0 FROM patrimoine.street_light) + "
            "(SELECT count(*) * 45 * 2 / 60.0 + sum(coalesce(floor_area_m2, ST_Area(geom))) / 100 * 20 * 4 / 60.0 "
            "FROM patrimoine.building) + "  # upkeep by floor area where known
            "(SELECT coalesce(sum(ST_Area(geom)) / 100 * 3 * 10 / 60.0, 0) FROM patrimoine.green_space "
            " WHERE kind = 'cemetery') + (SELECT sum(length_m) / 100 * 1.5 / 60.0 FROM patrimoine.road) + "
            "(SELECT count(*) * 8 / 60.0 FROM patrimoine.tree) + "  # tree inspections
            "(SELECT sum(CASE WHEN setting = 'town_centre' THEN 130 ELSE 52 END) * 2.5 / 60.0 "
            " FROM patrimoine.litter_bin)"
        ).fetchone()[0]
        due = renewals(conn, age=20, year=2026)
        old = conn.execute(
            "SELECT count(*) FROM patrimoine.street_light WHERE lamp_type = 'hps' AND installed_year <= 2006"
        ).fetchone()[0]
    assert van["machine_days"] == pytest.approx(float(hours) / eq["shift_hours"], rel=1e-3)
    assert sum(d["days_status_quo"] for d in van["per_depot"]) == pytest.approx(van["machine_days"], abs=0.5)
    assert van["units_needed_pooled"] <= van["units_held"]
    hps = next(d for d in due if d["type"] == "hps")
    assert hps["total"] == old and sum(hps["communes"].values()) == old


def test_scenario_report_for_directors(api: str, analyst: str) -> None:
    r = httpx.post(
        f"{api}/analysis/scenarios", json={"service": "buildings", "iterations": 50}, headers=AUTH, timeout=300
    )
    assert r.status_code == 201, r.text
    body = r.json()
    report = httpx.get(f"{api}/analysis/scenarios/{body['id']}/report")
    assert report.status_code == 200 and "<svg" in report.text
    # this comparison's own figures, not only the template's text: every commune, and who would pay more
    assert all(html.escape(c["name"]) in report.text for c in body["communes"]) and len(body["communes"]) > 1
    assert all(html.escape(name) in report.text for names in body["losers_by_key"].values() for name in names)
    # who would pay more than alone under a key: in red, and only they
    red = sum(len(c["pays_more_than_alone"]) for c in body["communes"])
    assert report.text.count("<td style='color:#c92a2a;font-weight:bold'>") == red
    assert "arrêté du 26 avril 2017" in report.text and "cost-sharing key" in report.text
    assert httpx.get(f"{api}/analysis/scenarios/999999/report").status_code == 404


def test_depots_side_by_side_act_as_one_site(analyst: str) -> None:
    """Laval's municipal depot and the agglomération's centre, 57 m apart (one cell): one zone for both, with
    both names and their crews together, beside Changé's zone."""
    with psycopg.connect(analyst) as conn:
        laval = conn.execute(
            "SELECT id, name, crews FROM patrimoine.depot WHERE commune_insee = '53130' ORDER BY id"
        ).fetchall()
        change = conn.execute("SELECT id, crews FROM patrimoine.depot WHERE commune_insee = '53054'").fetchone()
        result = zones(conn, "roads", 1000, 0.5, [d[0] for d in laval] + [change[0]])
    assert len(laval) == 2 and len(result["balanced"]) == 2
    both = next(z for z in result["balanced"] if z["depot_id"] in {d[0] for d in laval})
    assert both["depot_name"] == " + ".join(d[1] for d in laval) and both["crews"] == laval[0][2] + laval[1][2]


@pytest.mark.parametrize("seed", range(6))
def test_once_balanced_border_cells_go_to_the_depot_nearer_by_road(seed: int) -> None:
    """A row of 24 cells with uneven hours, depots at both ends and one in the middle (travel: a minute a cell):
    after balancing, no border cell could move to the neighbouring zone whose depot is nearer by road while
    both zones stay within the tolerance and whole."""
    import numpy as np
    import shapely

    from gis_patrimoine.analysis.zones import Cells, _component, balance

    rng = np.random.default_rng(seed)
    n, homes, tolerance = 24, [0, 12, 23], 0.25
    cost = np.array([[abs(i - h) * 60.0 for i in range(n)] for h in homes])
    cells = Cells(
        geoms=[shapely.box(i, 0, i + 1, 1) for i in range(n)],
        hours=rng.uniform(1, 10, n),
        cost=cost,
        neighbours=[[j for j in (i - 1, i + 1) if 0 <= j < n] for i in range(n)],
        communes=[None] * n,
    )
    zone = balance(cells, [1, 1, 1], homes, tolerance)
    target = cells.hours.sum() / 3
    load = np.array([cells.hours[zone == d].sum() for d in range(3)])
    assert np.all(np.abs(load - target) <= tolerance * target + 1e-9)
    for i in set(range(n)) - set(homes):
        d = zone[i]
        for e in {zone[j] for j in cells.neighbours[i]} - {d}:
            if cost[e, i] >= cost[d, i]:
                continue  # not nearer
            fits = (
                load[d] - cells.hours[i] >= (1 - tolerance) * target
                and load[e] + cells.hours[i] <= (1 + tolerance) * target
            )
            rest = set(np.flatnonzero(zone == d).tolist()) - {i}
            whole = _component(rest, homes[d], cells.neighbours) == rest
            assert not (fits and whole), f"cell {i} could go to the nearer depot {e}"
