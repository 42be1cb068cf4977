"""`db init`: creates, upgrades, and on an up-to-date database changes nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import psycopg
import pytest

from gis_patrimoine.db.migrations import MigrationError, applied_ids, migrate, migration_ids

CLI = [sys.executable, "-m", "gis_patrimoine.cli"]


def run_cli(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def snapshot(url: str) -> dict:
    """What a no-op must not touch: migrations, schema objects, the xmin of value-list rows."""
    with psycopg.connect(url) as conn:
        return {
            "migrations": applied_ids(conn),
            "objects": conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname LIKE 'patrimoine%%'"
            ).fetchone()[0],
            "vl": conn.execute(
                "SELECT string_agg(x, ',' ORDER BY x) FROM (SELECT 'service:' || code || xmin::text AS x "
                "FROM patrimoine_vl.service UNION ALL SELECT 'road_class:' || code || xmin::text "
                "FROM patrimoine_vl.road_class) s"
            ).fetchone()[0],
            "yoyo_log": conn.execute("SELECT count(*) FROM patrimoine_sys._yoyo_log").fetchone()[0],
        }


def test_cli_init_creates_schema_then_changes_nothing(empty_db_url: str) -> None:
    first = run_cli("db", "init", url=empty_db_url)
    assert first.returncode == 0, first.stderr
    assert "Applied migrations: " + ", ".join(migration_ids()) in first.stdout
    before = snapshot(empty_db_url)
    second = run_cli("db", "init", url=empty_db_url)
    assert second.returncode == 0, second.stderr
    assert "Database up to date (storage SRID EPSG:2154); nothing changed." in second.stdout
    assert snapshot(empty_db_url) == before
    from gis_patrimoine.catalogue import get_catalogue

    with psycopg.connect(empty_db_url) as conn:  # QGIS finds a default style for every layer, without `qgis styles`
        styled = {r[0] for r in conn.execute("SELECT f_table_name FROM public.layer_styles WHERE useasdefault")}
        conn.execute("UPDATE public.layer_styles SET styleqml = '<qgis/>' WHERE f_table_name = 'road'")
    catalogue = get_catalogue()
    assert styled == {la.table for la in catalogue.layers.values()} | {t.name for t in catalogue.tables.values()}
    assert run_cli("db", "init", url=empty_db_url).returncode == 0
    with psycopg.connect(empty_db_url) as conn:  # a style edited away is put back by the next init
        assert (
            "categorizedSymbol"
            in conn.execute(
                "SELECT styleqml::text FROM public.layer_styles WHERE f_table_name = 'road' AND useasdefault"
            ).fetchone()[0]
        )


def test_init_upgrades_a_database_at_an_earlier_version(empty_db_url: str) -> None:
    ids = migration_ids()
    assert len(ids) >= 2
    partial = migrate(empty_db_url, upto=ids[-2])
    assert partial.applied == ids[:-1]
    result = run_cli("db", "init", url=empty_db_url)
    assert result.returncode == 0, result.stderr
    # the last numbered migration, then the one generated from the catalogue (its layers: trees, bins, gullies)
    assert f"Applied migrations: {ids[-1]}, catalogue_0001" in result.stdout
    with psycopg.connect(empty_db_url) as conn:
        assert applied_ids(conn) == [*ids, "catalogue_0001"]
        assert conn.execute("SELECT to_regclass('patrimoine_sys.import_job') IS NOT NULL").fetchone()[0]
    status = run_cli("db", "status", url=empty_db_url)
    assert status.returncode == 0 and "up to date" in status.stdout


def test_status_reports_pending_migrations(empty_db_url: str) -> None:
    ids = migration_ids()
    migrate(empty_db_url, upto=ids[0])
    status = run_cli("db", "status", url=empty_db_url)
    assert status.returncode == 1
    assert f"pending: {', '.join(ids[1:])}" in status.stdout


def test_geographic_srid_is_refused_with_a_clear_message(empty_db_url: str) -> None:
    result = run_cli("db", "init", "--srid", "4326", url=empty_db_url)
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "EPSG:4326 (WGS 84) cannot be the storage SRID" in message and "projected CRS in metres" in message
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT to_regclass('patrimoine.road')").fetchone()[0] is None


def test_other_projected_srid_is_used_for_every_layer(empty_db_url: str) -> None:
    assert migrate(empty_db_url, srid=3948).srid == 3948
    with psycopg.connect(empty_db_url) as conn:
        srids = {r[0] for r in conn.execute("SELECT srid FROM geometry_columns WHERE f_table_schema = 'patrimoine'")}
    assert srids == {3948}
    with pytest.raises(MigrationError, match="stores geometries in EPSG:3948"):
        migrate(empty_db_url, srid=2154)
    assert migrate(empty_db_url).srid == 3948  # no --srid: keeps the stored one


def test_codelist_changes_are_synced_and_removed_codes_kept_inactive(db_url: str) -> None:
    from gis_patrimoine.catalogue import CodeValue, get_catalogue

    catalogue = get_catalogue()
    service = catalogue.codelists["service"]
    changed = service.model_copy(
        update={"values": (*service.values[1:], CodeValue(code="snow", fr="Viabilité hivernale", en="Winter"))}
    )
    edited = catalogue.model_copy(update={"codelists": {**catalogue.codelists, "service": changed}})
    result = migrate(db_url, catalogue=edited)
    assert result.applied == [] and result.codelist_changes == 5  # snow added, 3 re-ordered, lighting retired
    with psycopg.connect(db_url) as conn:
        rows = dict(conn.execute("SELECT code, active FROM patrimoine_vl.service").fetchall())
    assert rows["snow"] is True and rows["lighting"] is False


def test_a_lock_left_by_a_killed_migration_does_not_block(empty_db_url: str) -> None:
    migrate(empty_db_url, upto=migration_ids()[0])
    with psycopg.connect(empty_db_url) as conn:  # what a process killed in the middle of `db init` leaves
        conn.execute("INSERT INTO patrimoine_sys.yoyo_lock (locked, ctime, pid) VALUES (1, now(), 999999)")
    result = run_cli("db", "init", url=empty_db_url)
    assert result.returncode == 0, result.stderr
    assert "Applied migrations" in result.stdout


def test_upgrading_a_database_that_holds_data(empty_db_url: str) -> None:
    """0012 and 0013 change tables that hold data (the network, the machines of the depots): a database in use
    upgrades with its data kept — the machines counted per type become one row each."""
    migrate(empty_db_url, upto="0011_layer_styles")
    with psycopg.connect(empty_db_url) as conn:
        conn.execute("INSERT INTO patrimoine_vl.equipment_type (code, label_fr, label_en) VALUES ('van', 'F', 'V')")
        conn.execute("INSERT INTO patrimoine_vl.service (code, label_fr, label_en) VALUES ('roads', 'V', 'R')")
        conn.execute(
            "INSERT INTO patrimoine.commune (insee, name, geom) VALUES ('53130', 'Laval', "
            "ST_GeomFromText('MULTIPOLYGON(((0 0, 10 0, 10 10, 0 10, 0 0)))', 2154))"
        )
        depot = conn.execute(
            "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) VALUES "
            "('53130', 't', 'd', 'CTM', '{roads}', 1, ST_SetSRID(ST_MakePoint(5, 5), 2154)) RETURNING id"
        ).fetchone()[0]
        conn.execute("INSERT INTO patrimoine.depot_equipment VALUES (%s, 'van', 2)", (depot,))
        conn.commit()
    result = run_cli("db", "init", url=empty_db_url)
    assert result.returncode == 0, result.stdout + result.stderr
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT label, commune_insee FROM patrimoine.equipment ORDER BY 1").fetchall() == [
            ("van 1", "53130"),
            ("van 2", "53130"),
        ]
        assert conn.execute("SELECT * FROM patrimoine.depot_equipment").fetchall() == [(depot, "van", 2)]


def test_tables_for_scripts_and_pipes(demo_db: str) -> None:
    """Piped, tables keep their words whole; --format csv and json give the data alone on stdout."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"DATABASE_URL": demo_db}
    piped = subprocess.run([*CLI, "analyse", "workload"], capture_output=True, text=True, env=env, timeout=120)
    assert piped.returncode == 0 and "green_spaces" in piped.stdout and "…" not in piped.stdout
    as_json = subprocess.run(
        [*CLI, "--format", "json", "db", "status"], capture_output=True, text=True, env=env, timeout=120
    )
    rows = {r["layer"]: r for r in json.loads(as_json.stdout)}  # nothing but the data on stdout
    assert isinstance(rows["street_lights"]["features"], int) and rows["street_lights"]["features"] > 1000
    assert "Migrations" in as_json.stderr
    as_csv = run_cli("--format", "csv", "analyse", "workload", url=demo_db)
    lines = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert lines[0] == ["commune", "buildings", "green_spaces", "lighting", "roads", "total"]
    assert all(row[-1].isdigit() for row in lines[1:])  # 1165, not "1,165"
    assert run_cli("--format", "xml", "db", "status", url=demo_db).returncode != 0


def test_the_application_schema_holds_no_data_and_is_rebuilt_from_its_files(empty_db_url: str) -> None:
    """`patrimoine_app` is code only: functions, one file each in sql/app/, recreated at every `db init`. A
    function changed by hand comes back as its file says, one whose file is gone is dropped, and a function
    still used by a trigger is not dropped silently."""
    from gis_patrimoine.db.migrations import app_files

    migrate(empty_db_url)
    files = {path.stem for path in app_files()}
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        relations = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'patrimoine_app'"
        ).fetchone()[0]
        assert relations == 0, "the application schema must hold no table, view or sequence"
        names = {
            r[0]
            for r in conn.execute(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'patrimoine_app'"
            )
        }
        assert names == files and {"to_int", "log_update", "may_edit"} <= files
        conn.execute("CREATE OR REPLACE FUNCTION patrimoine_app.to_int(value text) RETURNS integer "
                     "LANGUAGE sql IMMUTABLE AS 'SELECT 0'")  # fmt: skip
        conn.execute("CREATE FUNCTION patrimoine_app.stray() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    result = migrate(empty_db_url)
    assert result.functions_changed == ["patrimoine_app.stray()", "patrimoine_app.to_int(text)"]
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT patrimoine_app.to_int('12')").fetchone()[0] == 12
        assert conn.execute("SELECT to_regprocedure('patrimoine_app.stray()')").fetchone()[0] is None
    assert not migrate(empty_db_url).changed


def test_a_function_still_used_is_not_dropped(empty_db_url: str, tmp_path) -> None:
    import shutil

    from gis_patrimoine.settings import get_settings

    migrate(empty_db_url)
    sql_dir = tmp_path / "sql"
    shutil.copytree(get_settings().migrations_dir, sql_dir)
    (sql_dir / "app" / "touch_row.sql").unlink()  # every layer's trigger uses it
    from gis_patrimoine.db.migrations import rebuild_application

    with psycopg.connect(empty_db_url) as conn, pytest.raises(MigrationError, match=r"touch_row.*still used"):
        rebuild_application(conn, sql_dir)


def test_later_migrations_do_not_define_application_functions() -> None:
    """Functions live in sql/app/; migrations after 0016 (when that began) change tables and data only."""
    import re

    from gis_patrimoine.settings import get_settings

    migrations = sorted(get_settings().migrations_dir.glob("[0-9]*.sql"))
    pattern = r"CREATE\s+(OR\s+REPLACE\s+)?FUNCTION\s+patrimoine_app\."  # a definition, not a trigger calling one
    defining = [p.stem for p in migrations if re.search(pattern, p.read_text(), re.I)]
    assert all(stem <= "0016" for stem in defining), f"{defining}: define functions in sql/app/, not in a migration"
