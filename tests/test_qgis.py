"""Real PyQGIS (Debian's python3-qgis, headless) against the demo database and the running server: layers with
their default styles and forms, the stored project, an editor's rights, the OGC API and tiles, and undo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from gis_patrimoine.catalogue import get_catalogue
from gis_patrimoine.qgis.project import storage_uri
from tests import writable
from tests.conftest import login
from tests.test_migrations import run_cli

demo_db, api = writable.demo_db, writable.api  # this module writes: its own clone of the demo

EDITOR = login("gp_q_editor")


pytestmark = [pytest.mark.qgis, pytest.mark.slow]

PROBE = Path(__file__).with_name("qgis_probe.py")
CATALOGUE = get_catalogue()


def probe(spec: dict) -> dict:
    result = subprocess.run(
        ["/usr/bin/python3", str(PROBE)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=600,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def qgis_db(demo_db: str) -> dict:
    assert run_cli("qgis", "styles", url=demo_db).returncode == 0  # styles name the database they are for
    p = conninfo_to_dict(demo_db)
    return {"url": demo_db, "db": {"host": p["host"], "port": p["port"], "dbname": p["dbname"], "user": p["user"]}}


def test_every_layer_opens_styled_with_its_form(qgis_db: dict) -> None:
    spec = {
        "db": qgis_db["db"],
        "steps": ["layers"],
        "layers": [{"schema": la.schema, "table": la.table, "key": la.key} for la in CATALOGUE.layers.values()],
    }
    with psycopg.connect(qgis_db["url"]) as conn:
        slds = dict(conn.execute("SELECT f_table_name, stylesld FROM public.layer_styles WHERE useasdefault"))
    for item in spec["layers"]:
        item["sld"] = slds[item["table"]]
    seen = {r["table"]: r for r in probe(spec)["layers"]}
    # by hand, at 559,082,264 / 2^zoom: street lights from zoom 13 (1:68,247), buildings from 12 (1:136,494)
    assert seen["street_light"]["scale_based"] and seen["street_light"]["min_scale"] == 68_247
    assert seen["building"]["scale_based"] and seen["building"]["min_scale"] == 136_494
    assert not seen["commune"]["scale_based"]  # the base layer shows at every scale
    with psycopg.connect(qgis_db["url"]) as conn:
        for layer in CATALOGUE.layers.values():
            r = seen[layer.table]
            # what the database maintains is read-only in the form; what agents enter is not
            system = {a.name for a in layer.attributes if a.system or a.generated}
            assert set(r["readonly"]) == system, layer.name
            if layer.kind == "asset":
                assert {"created_at", "updated_at", "updated_by"} <= system, layer.name
            # the SLD, read back by QGIS, draws the same classes as the default style
            assert r["sld"]["ok"], (layer.name, r["sld"]["message"])
            if layer.style.by:
                codes = CATALOGUE.codelists[layer.attribute(layer.style.by).codelist].codes
                assert len(r["sld"]["rules"]) == len(codes), layer.name
            if layer.style.label and layer.style.label_minzoom is not None:
                # labels from that zoom on: hidden when zoomed out beyond 1:559,082,264 / 2^zoom
                assert r["label_min_scale"] == 559_082_264 // 2**layer.style.label_minzoom, layer.name
            count = conn.execute(f"SELECT count(*) FROM {layer.schema}.{layer.table}").fetchone()[0]  # noqa: S608
            assert r["valid"], layer.name
            assert r["geometry"] == layer.geometry and r["srid"] == 2154, layer.name
            assert r["pk"] == [layer.key] and r["count"] == count, layer.name
            if layer.style.by:
                codes = CATALOGUE.codelists[layer.attribute(layer.style.by).codelist].codes
                assert r["renderer"] == "categorizedSymbol" and r["categories"] == len(codes), layer.name
            else:
                assert r["renderer"] == "singleSymbol", layer.name
            assert r["labels"] == bool(layer.style.label), layer.name
            for a in layer.attributes:
                assert r["aliases"][a.name] == a.title.fr
                if a.type in ("code", "codes"):
                    assert r["widgets"][a.name] == "ValueRelation", (layer.name, a.name)
            if layer.attribute(layer.key).type == "identity":
                assert r["readonly_id"], layer.name


def test_stored_project_opens_with_every_layer_valid(qgis_db: dict, api: str, tmp_path: Path) -> None:
    result = run_cli("qgis", "project", "--api-url", api, "--qgz", str(tmp_path / "p.qgz"), url=qgis_db["url"])
    assert result.returncode == 0, result.stderr
    assert "layers valid" in result.stdout and (tmp_path / "pg_service.conf").exists()
    seen = probe({"db": qgis_db["db"], "steps": ["project"], "project_uri": storage_uri(qgis_db["url"])})["project"]
    served = sum(la.kind != "result" for la in CATALOGUE.layers.values())  # OGC API layers, and one of tiles
    n = len(CATALOGUE.layers) + len(CATALOGUE.tables) + len(CATALOGUE.codelists) + 1 + served
    assert seen["read"] and seen["invalid"] == [] and seen["layers"] == n
    # the tree a technician opens: inventory grouped by service, communes as the base, the diagnostic's five
    # tables together, the results there but hidden until asked for
    groups = {g["group"]: g for g in seen["tree"]}
    by_service = {la.maintenance.service: la.table for la in CATALOGUE.layers.values() if la.maintenance}
    homes = {table: [g["group"] for g in seen["tree"] if table in g["layers"]] for table in by_service.values()}
    assert all(len(h) == 1 for h in homes.values()) and len({h[0] for h in homes.values()}) == len(homes)
    assert groups["Communes"]["layers"] == ["commune"] and all(groups["Communes"]["visible"])
    diagnostic = next(g for name, g in groups.items() if name.startswith("Diagnostic partagé"))
    assert sorted(diagnostic["layers"]) == sorted(t.name for t in CATALOGUE.tables.values())
    assert len(diagnostic["layers"]) == 5
    results = next(g for name, g in groups.items() if name.startswith("Analyses"))
    assert results["layers"] and not any(results["visible"])


def test_editor_edits_its_commune_only_and_history_records_it(qgis_db: dict) -> None:
    url = qgis_db["url"]
    assert run_cli("users", "create", EDITOR, "--role", "editor", "--commune", "53130", url=url).returncode == 0
    with psycopg.connect(url) as conn:
        own, other = (
            conn.execute(
                "SELECT id, ST_X(geom), ST_Y(geom) FROM patrimoine.street_light WHERE commune_insee = %s ORDER BY id "
                "LIMIT 1",
                (code,),
            ).fetchone()
            for code in ("53130", "53054")
        )
        before = conn.execute("SELECT count(*), sum(coalesce(power_w, 0)) FROM patrimoine.street_light").fetchone()
    spec = {
        "db": qgis_db["db"],
        "steps": ["edit"],
        "editor": {
            "login": EDITOR,
            "own": "53130",
            "own_xy": [own[1] + 5, own[2] + 5],
            "own_light": own[0],
            "other": "53054",
            "other_xy": [other[1] + 5, other[2] + 5],
            "other_light": other[0],
        },
    }
    result = probe(spec)["edit"]
    assert result["own"]["add"] and result["own"]["change"] and result["own"]["delete"], result["own"]
    refused = result["other"]
    assert not refused["add"] and "row-level security" in refused["add_errors"]
    assert not refused["change"] and "may not update assets of commune 53054" in refused["change_errors"]
    assert not refused["delete"] and "may not delete assets of commune 53054" in refused["delete_errors"]
    with psycopg.connect(url) as conn:
        kept = conn.execute("SELECT power_w FROM patrimoine.street_light WHERE id = %s", (other[0],)).fetchall()
        assert len(kept) == 1 and kept[0][0] != 77  # neither deleted nor changed
        assert conn.execute("SELECT count(*) FROM patrimoine.street_light WHERE source = 'qgis'").fetchone()[0] == 1
        ops = conn.execute(
            "SELECT operation, feature_id FROM patrimoine_sys.history WHERE db_user = %s ORDER BY id", (EDITOR,)
        ).fetchall()
        assert [o for o, _ in ops] == ["INSERT", "UPDATE", "DELETE"]
        assert before[0] == conn.execute("SELECT count(*) FROM patrimoine.street_light").fetchone()[0]  # +1 −1

        # undo: the light the editor deleted comes back identical
        deleted = conn.execute(
            "SELECT old_values FROM patrimoine_sys.history WHERE db_user = %s AND operation = 'DELETE'", (EDITOR,)
        ).fetchone()[0]
    assert run_cli("history", "restore", "street_lights", str(own[0]), url=url).returncode == 0
    with psycopg.connect(url) as conn:
        back = conn.execute(
            "SELECT to_jsonb(s) - 'geom' || jsonb_build_object('geom', s.geom::text) FROM patrimoine.street_light s "
            "WHERE id = %s",
            (own[0],),
        ).fetchone()[0]
    assert back == {**deleted, "id": own[0]}


def test_qgis_reads_the_ogc_api_and_the_tiles(qgis_db: dict, api: str) -> None:
    seen = probe({"db": qgis_db["db"], "steps": ["server"], "api": api})["server"]
    with psycopg.connect(qgis_db["url"]) as conn:
        communes = conn.execute("SELECT count(*) FROM patrimoine.commune").fetchone()[0]
        depots = conn.execute("SELECT count(*) FROM patrimoine.depot").fetchone()[0]
    assert seen["communes"] == {"valid": True, "count": communes}
    assert seen["depots"] == {"valid": True, "count": depots}
    assert seen["tiles"]["valid"]
