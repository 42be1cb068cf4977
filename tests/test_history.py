"""Every change is recorded by the database, whoever makes it (here: plain SQL, as QGIS does)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from gis_patrimoine.db.restore import restore
from tests.conftest import login

SQUARE = "MULTIPOLYGON(((400000 6780000, 401000 6780000, 401000 6781000, 400000 6781000, 400000 6780000)))"
EDITOR = login("gp_test_qgis_editor")


@pytest.fixture
def road_id(conn: psycopg.Connection) -> int:
    conn.execute(
        "INSERT INTO patrimoine.commune (insee, name, geom) VALUES ('53130', 'Laval', ST_GeomFromText(%s, 2154))",
        (SQUARE,),
    )
    rid = conn.execute(
        "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, name, geom) VALUES "
        "('53130', 'test', 'r1', 'street', 'Rue de la Paix', "
        "ST_GeomFromText('LINESTRING(400100 6780100, 400900 6780900)', 2154)) RETURNING id"
    ).fetchone()[0]
    conn.commit()
    return rid


@pytest.fixture
def editor_url(conn: psycopg.Connection, db_url: str) -> str:
    """A second database user, as a QGIS technician would connect."""
    conn.execute(
        sql.SQL("DO $$ BEGIN CREATE ROLE {} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$").format(
            sql.Identifier(EDITOR)
        )
    )
    conn.execute(
        sql.SQL(
            "GRANT gp_editor TO {r}; "
            "INSERT INTO patrimoine_sys.user_commune VALUES ({n}, '53130') ON CONFLICT DO NOTHING"
        ).format(r=sql.Identifier(EDITOR), n=sql.Literal(EDITOR))
    )
    conn.commit()
    return db_url.replace("postgres@", f"{EDITOR}@", 1)


def history(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT layer, feature_id, operation, old_values, new_values, changed_fields, db_user "
        "FROM patrimoine_sys.history ORDER BY id"
    ).fetchall()


def state(conn: psycopg.Connection, version: int) -> dict | None:
    return conn.execute("SELECT patrimoine_app.history_state(%s)", (version,)).fetchone()[0]


def row_json(conn: psycopg.Connection, road_id: int) -> dict:
    return conn.execute(
        "SELECT to_jsonb(r) - 'geom' || jsonb_build_object('geom', r.geom::text) FROM patrimoine.road r WHERE id = %s",
        (road_id,),
    ).fetchone()[0]


def test_insert_is_recorded_without_a_copy_its_values_are_the_row_until_it_changes(conn, road_id) -> None:
    """pgMemento's way: an insertion stores no copy of the row; its values are the row as long as it is unchanged,
    then the old values of its next change, exactly (geometry as hex EWKB)."""
    rows = history(conn)
    assert [(r[0], r[2]) for r in rows] == [("commune", "INSERT"), ("road", "INSERT")]
    road = rows[1]
    assert road[1] == str(road_id) and road[3] is None and road[4] is None
    assert road[6] == "postgres"
    insert = conn.execute("SELECT id FROM patrimoine_sys.history WHERE layer = 'road'").fetchone()[0]
    inserted = row_json(conn, road_id)
    assert state(conn, insert) == inserted
    assert inserted["name"] == "Rue de la Paix" and inserted["geom"].startswith("01020000206A080000")
    conn.execute(
        "UPDATE patrimoine.road SET name = 'Rue Neuve', geom = ST_GeomFromText('LINESTRING(400100 6780100, "
        "400500 6780600)', 2154) WHERE id = %s",
        (road_id,),
    )
    conn.execute("UPDATE patrimoine.road SET name = 'Rue Vieille' WHERE id = %s", (road_id,))
    conn.commit()
    assert state(conn, insert) == inserted  # the first update's old values
    conn.execute("DELETE FROM patrimoine.road WHERE id = %s", (road_id,))
    conn.commit()
    assert state(conn, insert) == inserted
    versions = [v for v, op in conn.execute(
        "SELECT id, operation FROM patrimoine_sys.history WHERE layer = 'road' ORDER BY id").fetchall()]  # fmt: skip
    assert state(conn, versions[1])["name"] == "Rue Neuve" and state(conn, versions[2])["name"] == "Rue Vieille"
    assert state(conn, versions[3])["name"] == "Rue Vieille"  # as deleted
    assert state(conn, versions[0] + 10_000) is None
    commune = conn.execute("SELECT id FROM patrimoine_sys.history WHERE layer = 'commune'").fetchone()[0]
    assert state(conn, commune)["insee"] == "53130" and state(conn, commune)["name"] == "Laval"  # keyed by insee


def test_restore_to_an_insertion_after_changes_is_exact(conn, road_id) -> None:
    """`history restore --version <the insertion>` after two updates brings the row back as it was inserted."""
    inserted = row_json(conn, road_id)
    insert = conn.execute("SELECT id FROM patrimoine_sys.history WHERE layer = 'road'").fetchone()[0]
    conn.execute(
        "UPDATE patrimoine.road SET name = 'Rue Neuve', surface = 'asphalt', geom = ST_GeomFromText("
        "'LINESTRING(400100 6780100, 400500.123456789 6780600)', 2154) WHERE id = %s",
        (road_id,),
    )
    conn.execute("UPDATE patrimoine.road SET road_class = 'lane' WHERE id = %s", (road_id,))
    conn.commit()
    assert "brought back" in restore(conn, "roads", str(road_id), insert)
    back = row_json(conn, road_id)
    skip = ("updated_at", "updated_by")  # set by the restore itself
    assert {k: v for k, v in back.items() if k not in skip} == {k: v for k, v in inserted.items() if k not in skip}


def test_a_truncate_is_recorded_as_deletions_with_their_values(conn, road_id) -> None:
    """TRUNCATE fires no DELETE trigger: a BEFORE TRUNCATE trigger records the rows first, so an insertion's
    values (which it does not store) are still known, and the road can be restored, identical."""
    inserted = row_json(conn, road_id)
    insert = conn.execute("SELECT id FROM patrimoine_sys.history WHERE layer = 'road'").fetchone()[0]
    conn.execute("TRUNCATE patrimoine.road CASCADE")
    conn.commit()
    deleted = conn.execute(
        "SELECT feature_id, old_values FROM patrimoine_sys.history WHERE layer = 'road' AND operation = 'DELETE'"
    ).fetchall()
    assert deleted == [(str(road_id), inserted)]
    assert state(conn, insert) == inserted
    assert "restored" in restore(conn, "roads", str(road_id))
    assert row_json(conn, road_id) | {"updated_at": None, "updated_by": None} == inserted | {
        "updated_at": None,
        "updated_by": None,
    }


def test_plain_sql_update_records_old_new_values_and_database_user(conn, road_id, editor_url) -> None:
    with psycopg.connect(editor_url) as qgis:
        qgis.execute(
            "UPDATE patrimoine.road SET name = 'Rue de la Gare', surface = 'asphalt' WHERE id = %s",
            (road_id,),
        )
    layer, fid, op, old, new, changed, user = history(conn)[-1]
    assert (layer, fid, op, user) == ("road", str(road_id), "UPDATE", EDITOR)
    assert changed == ["name", "surface"]
    assert old["name"] == "Rue de la Paix" and old["surface"] is None
    assert new == {"name": "Rue de la Gare", "surface": "asphalt"}
    updated_by = conn.execute("SELECT updated_by FROM patrimoine.road WHERE id = %s", (road_id,)).fetchone()[0]
    assert updated_by == EDITOR


def test_geometry_update_records_geometry_and_recomputes_length(conn, road_id) -> None:
    conn.execute(
        "UPDATE patrimoine.road SET geom = ST_GeomFromText('LINESTRING(400100 6780100, 400100 6780600)',"
        " 2154) WHERE id = %s",
        (road_id,),
    )
    conn.commit()
    *_, changed, _ = history(conn)[-1]
    assert changed == ["geom", "length_m"]
    assert conn.execute("SELECT length_m FROM patrimoine.road").fetchone()[0] == 500.0


def test_update_that_changes_nothing_leaves_no_trace(conn, road_id) -> None:
    before = conn.execute("SELECT version FROM patrimoine_sys.data_version WHERE layer = 'road'").fetchone()[0]
    n_history = len(history(conn))
    stamp = conn.execute("SELECT updated_at FROM patrimoine.road").fetchone()[0]
    cur = conn.execute("UPDATE patrimoine.road SET name = name, geom = geom")
    conn.commit()
    assert cur.rowcount == 0
    assert len(history(conn)) == n_history
    assert conn.execute("SELECT updated_at FROM patrimoine.road").fetchone()[0] == stamp
    assert conn.execute("SELECT version FROM patrimoine_sys.data_version WHERE layer = 'road'").fetchone()[0] == before


def test_delete_keeps_the_whole_row_and_bumps_version(conn, road_id, editor_url) -> None:
    before = conn.execute("SELECT version FROM patrimoine_sys.data_version WHERE layer = 'road'").fetchone()[0]
    conn.commit()
    with psycopg.connect(editor_url) as qgis:
        qgis.execute("DELETE FROM patrimoine.road WHERE id = %s", (road_id,))
    layer, _, op, old, new, _, user = history(conn)[-1]
    assert (layer, op, user, new) == ("road", "DELETE", EDITOR, None)
    assert old["name"] == "Rue de la Paix" and old["road_class"] == "street"
    after = conn.execute("SELECT version FROM patrimoine_sys.data_version WHERE layer = 'road'").fetchone()[0]
    assert after == before + 1


def test_api_user_and_import_job_are_recorded(conn, road_id) -> None:
    conn.execute("SELECT set_config('gis_patrimoine.user', 'alice@laval', true)")
    conn.execute("UPDATE patrimoine.road SET speed_kmh = 30")
    conn.commit()
    app_user, db_user = conn.execute(
        "SELECT app_user, db_user FROM patrimoine_sys.history ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert (app_user, db_user) == ("alice@laval", "postgres")
    assert conn.execute("SELECT updated_by FROM patrimoine.road").fetchone()[0] == "alice@laval"


def test_rolled_back_change_leaves_no_history(conn, road_id) -> None:
    n_history = len(history(conn))
    conn.execute("DELETE FROM patrimoine.road")
    conn.rollback()
    assert len(history(conn)) == n_history


def test_bulk_update_is_recorded_row_by_row(conn, road_id) -> None:
    conn.execute(
        "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, geom) "
        "SELECT '53130', 'bulk', g::text, 'lane', ST_MakeLine(ST_MakePoint(400000 + g, 6780000), "
        "ST_MakePoint(400000 + g, 6780500))::geometry(LineString, 2154) FROM generate_series(1, 500) g"
    )
    conn.execute("UPDATE patrimoine.road SET condition = 'good' WHERE source = 'bulk'")
    conn.commit()
    counts = dict(
        conn.execute(
            "SELECT operation, count(*) FROM patrimoine_sys.history WHERE layer = 'road' GROUP BY 1"
        ).fetchall()
    )
    assert counts == {"INSERT": 501, "UPDATE": 500}


def test_each_committed_change_is_notified_and_a_rolled_back_one_is_not(conn, road_id, db_url) -> None:
    """Listeners (the API's caches, a QGIS plugin) hear of every committed change, with its layer."""
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN gis_patrimoine_data")
        conn.execute("UPDATE patrimoine.road SET name = 'Rue annulée' WHERE id = %s", (road_id,))
        conn.rollback()
        assert [n.payload for n in listener.notifies(timeout=0.5)] == []
        conn.execute("UPDATE patrimoine.road SET name = 'Rue neuve' WHERE id = %s", (road_id,))
        conn.commit()
        assert [n.payload for n in listener.notifies(timeout=5, stop_after=1)] == ["road"]


def test_history_is_written_once_per_statement_from_transition_tables(conn, road_id) -> None:
    """500 rows updated by one statement: the history function runs once (set-based), not 500 times."""
    for table in ("road", "street_light", "green_space", "building", "depot", "commune"):
        triggers = {
            name: rest
            for name, *rest in conn.execute(
                "SELECT tgname, (tgtype & 1) = 0, tgoldtable, tgnewtable FROM pg_trigger "
                "WHERE tgrelid = %s::regclass AND tgname LIKE 'log\\_%%'",
                (f"patrimoine.{table}",),
            ).fetchall()
        }
        assert triggers["log_update"] == [True, "old_rows", "new_rows"], table
        assert triggers["log_insert"][0] and triggers["log_delete"][0], table
    conn.execute(
        "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, geom) "
        "SELECT '53130', 'bulk', g::text, 'lane', ST_MakeLine(ST_MakePoint(400000 + g, 6780000), "
        "ST_MakePoint(400000 + g, 6780500))::geometry(LineString, 2154) FROM generate_series(1, 500) g"
    )
    conn.commit()
    conn.execute("SET track_functions = 'all'")
    conn.execute("UPDATE patrimoine.road SET condition = 'good' WHERE source = 'bulk'")
    calls = conn.execute(  # this transaction's calls of the history function
        "SELECT pg_stat_get_xact_function_calls('patrimoine_app.log_update'::regproc)"
    ).fetchone()[0]
    conn.commit()
    assert calls == 1
    assert conn.execute("SELECT count(*) FROM patrimoine_sys.history WHERE operation = 'UPDATE'").fetchone()[0] == 500
