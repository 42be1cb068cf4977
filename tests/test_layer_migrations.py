"""A layer from one catalogue file: `db init` generates the versioned migration that creates its table (checks,
keys, indexes, history, rights, data version), QGIS finds its style, the API serves it as a collection and in
tiles; a column removed or retyped in the catalogue is refused with what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import mapbox_vector_tile
import morecantile
import psycopg
import pytest

from gis_patrimoine.catalogue import get_catalogue, load_catalogue
from gis_patrimoine.db.layer_migrations import create_table_sql
from gis_patrimoine.settings import PROJECT_ROOT
from tests.servers import running_server

CLI = [sys.executable, "-m", "gis_patrimoine.cli"]
BENCH = """\
name: bench
kind: asset
collection: benches
title: {fr: Bancs, en: Benches}
description: Public benches.
geometry: Point
attributes:
  - {name: material, type: code, codelist: bench_material, required: true, title: {fr: Matériau, en: Material}}
  - {name: seats, type: integer, min: 1, max: 20, title: {fr: Places, en: Seats}}
maintenance:
  service: green_spaces
  activities:
    - {name: bench_check, title: {fr: Contrôle des bancs, en: Bench check}, per: item, minutes: 5,
       visits_per_year: 2, routing: node, equipment: van, skill: polyvalent, crew: 1}
tiles: {minzoom: 14, maxzoom: 22, properties: {14: [material, seats]}}
style: {type: circle, by: material, radius: 3}
"""
MATERIALS = """
bench_material:
  title: {fr: Matériau de banc, en: Bench material}
  values:
    - {code: wood, fr: Bois, en: Wood, colour: "#8d6e63"}
    - {code: metal, fr: Métal, en: Metal, colour: "#495057"}
"""


def _catalogue_with_bench(tmp_path: Path, bench: str = BENCH) -> Path:
    directory = tmp_path / "layers"
    shutil.copytree(PROJECT_ROOT / "layers", directory)
    (directory / "bench.yaml").write_text(bench, encoding="utf-8")
    with (directory / "codelists.yaml").open("a", encoding="utf-8") as f:
        f.write(MATERIALS)
    return directory


def _init(url: str, catalogue_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "200", "GIS_PATRIMOINE_CATALOGUE_DIR": str(catalogue_dir)}
    return subprocess.run([*CLI, "db", *(args or ("init",))], capture_output=True, text=True, env=env, timeout=120)


def _signature(conn: psycopg.Connection, table: str) -> dict:
    """Everything a layer table is, by name: columns, constraints, indexes, triggers, policies, grants."""
    oid = f"patrimoine.{table}"
    return {
        "columns": conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull, attidentity, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid "
            "AND d.adnum = a.attnum WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY 1",
            (oid,),
        ).fetchall(),
        "constraints": conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY 1",
            (oid,),
        ).fetchall(),
        "indexes": conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'patrimoine' AND tablename = %s ORDER BY 1",
            (table,),
        ).fetchall(),
        "triggers": conn.execute(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal "
            "ORDER BY 1",
            (oid,),
        ).fetchall(),
        "policies": conn.execute(
            "SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'patrimoine' "
            "AND tablename = %s ORDER BY 1",
            (table,),
        ).fetchall(),
        "rls": conn.execute("SELECT relrowsecurity FROM pg_class WHERE oid = %s::regclass", (oid,)).fetchone(),
        "grants": conn.execute(
            "SELECT grantee, string_agg(privilege_type, ',' ORDER BY privilege_type) FROM "
            "information_schema.role_table_grants WHERE table_schema = 'patrimoine' AND table_name = %s "
            "AND grantee LIKE 'gp_%%' GROUP BY 1 ORDER BY 1",
            (table,),
        ).fetchall(),
    }


@pytest.mark.parametrize("name", ["street_light", "depot"])
def test_the_generator_writes_what_the_hand_written_migrations_wrote(db_url: str, name: str) -> None:
    """The generated DDL of a layer written by hand in sql/0001 (and given history and rights in 0002, 0010, 0017)
    is that table again, object by object: a generated layer is a first-class one."""
    layer = get_catalogue().layer(name)
    with psycopg.connect(db_url) as conn:
        srid = int(conn.execute("SELECT value FROM patrimoine_sys.setting WHERE key = 'srid'").fetchone()[0])
        hand = _signature(conn, name)
        conn.execute(f"DROP TABLE patrimoine.{name} CASCADE")
        conn.execute(create_table_sql(layer, srid))
        assert _signature(conn, name) == hand


def test_a_layer_from_one_catalogue_file_end_to_end(laval_url: str, tmp_path: Path) -> None:
    catalogue_dir = _catalogue_with_bench(tmp_path)
    with running_server(laval_url, catalogue=load_catalogue(catalogue_dir)) as api:  # before db init: not ready
        ready = httpx.get(f"{api}/ready")
        assert ready.status_code == 503 and ready.json()["layers_without_table"] == ["patrimoine.bench"]
        assert ready.json()["fix"] == "run gis-patrimoine db init"
    before = _init(laval_url, catalogue_dir, "plan")
    assert before.returncode == 0, before.stderr
    assert "CREATE TABLE patrimoine.bench" in before.stdout and "catalogue_0002" in before.stdout
    result = _init(laval_url, catalogue_dir)
    assert result.returncode == 0, result.stderr
    assert "Applied migrations: catalogue_0002" in result.stdout
    assert "from the catalogue: benches: new layer (Point; material, seats)" in result.stdout
    assert "code list bench_material" in result.stdout
    again = _init(laval_url, catalogue_dir)
    assert "nothing changed" in again.stdout, again.stdout
    with psycopg.connect(laval_url) as conn:
        # versioned: in yoyo's history beside the numbered migrations, its SQL kept
        assert conn.execute(
            "SELECT count(*) FROM patrimoine_sys._yoyo_migration WHERE migration_id = 'catalogue_0002'"
        ).fetchone() == (1,)
        layers, statement = conn.execute(
            "SELECT layers, statement FROM patrimoine_sys.generated_migration WHERE migration_id = 'catalogue_0002'"
        ).fetchone()
        assert layers == ["bench"] and "CREATE TABLE patrimoine.bench" in statement
        # checks, code list and history, as for any layer
        insert = (
            "INSERT INTO patrimoine.bench (commune_insee, source, source_id, material, seats, geom) "
            "VALUES ('53130', 'test', %s, %s, %s, ST_Transform(ST_SetSRID(ST_MakePoint(-0.7705, 48.0706), 4326), "
            "2154)) RETURNING id"
        )
        bench_id = conn.execute(insert, ("1", "wood", 4)).fetchone()[0]
        with pytest.raises(psycopg.errors.CheckViolation, match="bench_seats_range"), conn.transaction():
            conn.execute(insert, ("2", "wood", 40))
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="bench_material"), conn.transaction():
            conn.execute(insert, ("3", "granite", 2))
        conn.execute("UPDATE patrimoine.bench SET seats = 5 WHERE id = %s", (bench_id,))
        history = conn.execute(
            "SELECT operation, patrimoine_app.history_state(id)->>'seats' FROM patrimoine_sys.history "
            "WHERE layer = 'bench' ORDER BY id"
        ).fetchall()
        assert history == [("INSERT", "4"), ("UPDATE", "5")]  # the insertion's values: the update's old ones
        assert conn.execute("SELECT version FROM patrimoine_sys.data_version WHERE layer = 'bench'").fetchone()[0] > 0
        qml = conn.execute(
            "SELECT styleqml::text FROM public.layer_styles WHERE f_table_name = 'bench' AND useasdefault"
        ).fetchone()[0]
        assert "categorizedSymbol" in qml and "wood" in qml and "Bois" in qml
        # its QGIS form: the material picked from its code list's table, French labels
        assert '<field name="material"' in qml and 'type="ValueRelation"' in qml and "bench_material" in qml
        assert '<alias field="seats" index=' in qml and 'name="Places"' in qml
        # a commune's editor may write its own benches only: the rights came with the table
        assert conn.execute(
            "SELECT has_table_privilege('gp_editor', 'patrimoine.bench', 'INSERT'), "
            "has_table_privilege('gp_reader', 'patrimoine.bench', 'SELECT')"
        ).fetchone() == (True, True)
        assert conn.execute("SELECT relrowsecurity FROM pg_class WHERE oid = 'patrimoine.bench'::regclass").fetchone()[
            0
        ]
    catalogue = load_catalogue(catalogue_dir)
    with running_server(laval_url, catalogue=catalogue) as api:
        assert httpx.get(f"{api}/ready").status_code == 200
        collection = httpx.get(f"{api}/collections/benches").json()
        assert collection["title"] in ("Bancs", "Benches")
        items = httpx.get(f"{api}/collections/benches/items").json()
        assert [f["properties"]["seats"] for f in items["features"]] == [5]
        queryables = httpx.get(f"{api}/collections/benches/queryables").json()["properties"]
        assert queryables["material"]["enum"] == ["wood", "metal"]
        tile = morecantile.tms.get("WebMercatorQuad").tile(-0.7705, 48.0706, 16)
        response = httpx.get(f"{api}/collections/benches/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}")
        assert response.status_code == 200
        features = mapbox_vector_tile.decode(response.content)["benches"]["features"]
        assert [(f["properties"]["material"], f["properties"]["seats"]) for f in features] == [("wood", 5)]
        style = httpx.get(f"{api}/styles/default/style.json").json()  # the map page draws it, by material
        drawn = {la["id"]: la for la in style["layers"]}
        assert drawn["benches"]["paint"]["circle-color"][:4] == ["match", ["get", "material"], "wood", "#8d6e63"]


PLAQUE = """\
name: plaque
kind: asset
collection: plaques
title: {fr: Plaques, en: Plaques}
description: Memorial plaques.
geometry: Point
attributes:
  - {name: text, type: text, required: true, title: {fr: Texte, en: Text}}
tiles: {minzoom: 16}
style: {type: circle, colour: "#000000"}
"""
COLOURS = """
bench_colour:
  title: {fr: Couleur, en: Colour}
  values:
    - {code: green, fr: Vert, en: Green}
    - {code: grey, fr: Gris, en: Grey}
"""
GROWN = """\
  - {name: backrest, type: boolean, title: {fr: Dossier, en: Backrest}}
  - {name: colour, type: code, codelist: bench_colour, required: true, default: green, title: {fr: Couleur, en: Colour}}
  - {name: uses, type: codes, codelist: service, default: green_spaces, title: {fr: Services, en: Services}}
  - {name: plaque_id, type: reference, references: plaque, title: {fr: Plaque, en: Plaque}}
  - {name: slope, type: real, max: 2.75, default: 0.125, title: {fr: Pente, en: Slope}}
  - {name: rows, type: integer, min: 1, title: {fr: Rangs, en: Rows}}
maintenance:"""


def test_attributes_added_to_a_layer_holding_rows_become_columns(laval_url: str, tmp_path: Path) -> None:
    """Added to a layer that holds a bench: a required code with a default from a new code list (its codes are
    there before the rows take the default), a list of codes with a default, a reference to a layer created in the
    same migration, bounds on one side only and non-integer ones: one migration, and the bench keeps its values."""
    from gis_patrimoine.db.errors import translate

    catalogue_dir = _catalogue_with_bench(tmp_path)
    assert _init(laval_url, catalogue_dir).returncode == 0
    with psycopg.connect(laval_url) as conn:
        conn.execute(
            "INSERT INTO patrimoine.bench (commune_insee, source, source_id, material, geom) VALUES "
            "('53130', 'test', 'b1', 'wood', ST_SetSRID(ST_MakePoint(420500, 6779000), 2154))"
        )
    (catalogue_dir / "bench.yaml").write_text(BENCH.replace("maintenance:", GROWN), encoding="utf-8")
    (catalogue_dir / "plaque.yaml").write_text(PLAQUE, encoding="utf-8")
    with (catalogue_dir / "codelists.yaml").open("a", encoding="utf-8") as f:
        f.write(COLOURS)
    with running_server(laval_url, catalogue=load_catalogue(catalogue_dir)) as api:  # before db init: not ready
        ready = httpx.get(f"{api}/ready").json()
        assert "patrimoine.bench.backrest" in ready["columns_missing"], ready
        assert ready["layers_without_table"] == ["patrimoine.plaque"]
    result = _init(laval_url, catalogue_dir)
    assert result.returncode == 0, result.stderr
    assert "Applied migrations: catalogue_0003" in result.stdout
    for change in ("plaques: new layer", "benches: new attribute backrest (boolean)", "new attribute colour (code)",
                   "new attribute plaque_id (reference)", "code list bench_colour"):  # fmt: skip
        assert change in result.stdout, result.stdout
    catalogue = load_catalogue(catalogue_dir)
    with psycopg.connect(laval_url) as conn:
        assert conn.execute("SELECT colour, uses, slope, backrest, rows FROM patrimoine.bench").fetchone() == (
            "green",
            ["green_spaces"],
            0.125,
            None,
            None,
        )
        assert conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'bench_slope_range'"
        ).fetchone() == ("CHECK ((slope <= (2.75)::double precision))",)
        with pytest.raises(psycopg.errors.CheckViolation) as above, conn.transaction():
            conn.execute("UPDATE patrimoine.bench SET slope = 3")
        assert str(translate(above.value, catalogue)) == "layer bench field slope: value above 2.75"
        with pytest.raises(psycopg.errors.CheckViolation) as below, conn.transaction():
            conn.execute("UPDATE patrimoine.bench SET rows = 0")
        assert str(translate(below.value, catalogue)) == "layer bench field rows: value below 1"
        plaque = conn.execute(
            "INSERT INTO patrimoine.plaque (commune_insee, source, source_id, text, geom) VALUES ('53130', 'test', "
            "'p1', 'À la mémoire', ST_SetSRID(ST_MakePoint(420500, 6779000), 2154)) RETURNING id"
        ).fetchone()[0]
        conn.execute("UPDATE patrimoine.bench SET plaque_id = %s", (plaque,))
    assert "nothing changed" in _init(laval_url, catalogue_dir).stdout


@pytest.mark.parametrize(
    ("change", "replacement", "words"),
    [
        (
            "  - {name: seats, type: integer, min: 1, max: 20, title: {fr: Places, en: Seats}}\n",
            "",
            "DROP COLUMN seats",
        ),
        ("type: integer, min: 1", "type: real, min: 1", "does not change a column's type"),
        ("geometry: Point", "geometry: MultiPoint", "does not convert geometries"),
        (
            "maintenance:",
            "  - {name: colour, type: text, required: true, title: {fr: Couleur, en: Colour}}\nmaintenance:",
            "has no default",
        ),
        ("max: 20, title", "max: 20, required: true, title", "SET NOT NULL"),
        ("codelist: bench_material", "codelist: condition", "refers to patrimoine_vl.condition"),
    ],
    ids=["removed", "retyped", "geometry", "required", "made-required", "other-list"],
)
def test_a_change_that_would_lose_data_is_refused_with_what_to_do(
    laval_url: str, tmp_path: Path, change: str, replacement: str, words: str
) -> None:
    catalogue_dir = _catalogue_with_bench(tmp_path)
    assert _init(laval_url, catalogue_dir).returncode == 0
    (catalogue_dir / "bench.yaml").write_text(BENCH.replace(change, replacement), encoding="utf-8")
    with psycopg.connect(laval_url) as conn:  # the layer holds a bench: a new required column has no value for it
        conn.execute(
            "INSERT INTO patrimoine.bench (commune_insee, source, source_id, material, geom) VALUES "
            "('53130', 'test', 'b1', 'wood', ST_SetSRID(ST_MakePoint(420500, 6779000), 2154))"
        )
        migrations = conn.execute("SELECT count(*) FROM patrimoine_sys._yoyo_migration").fetchone()[0]
    if "seats" not in BENCH.replace(change, replacement).split("tiles:")[0]:
        (catalogue_dir / "bench.yaml").write_text(
            BENCH.replace(change, replacement).replace("[material, seats]", "[material]"), encoding="utf-8"
        )
    for command in ("init", "plan"):
        result = _init(laval_url, catalogue_dir, command)
        assert result.returncode == 1
        message = " ".join(result.stderr.split())
        assert "layers/bench.yaml" in message and words in message, message
    with psycopg.connect(laval_url) as conn:
        assert conn.execute("SELECT count(*) FROM patrimoine_sys._yoyo_migration").fetchone()[0] == migrations
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'bench'")}  # fmt: skip
        assert {"seats", "material"} <= columns and "colour" not in columns


def test_a_wrong_catalogue_file_is_named_without_a_traceback(laval_url: str, tmp_path: Path) -> None:
    catalogue_dir = _catalogue_with_bench(tmp_path, BENCH.replace("codelist: bench_material", "codelist: bench_wood"))
    result = _init(laval_url, catalogue_dir)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "layers/bench.yaml: attribute material: unknown code list 'bench_wood'" in message, message
