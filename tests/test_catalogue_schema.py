"""The catalogue and the database agree, column by column and code list by code list."""

from __future__ import annotations

import re

import psycopg
import pytest

from gis_patrimoine.catalogue import get_catalogue

CATALOGUE = get_catalogue()


def _columns(conn: psycopg.Connection, table: str, schema: str = "patrimoine") -> dict[str, dict]:
    rows = conn.execute(
        """SELECT c.column_name, c.data_type, c.udt_name, c.is_nullable = 'YES', c.is_generated = 'ALWAYS',
                  c.is_identity = 'YES', c.column_default
           FROM information_schema.columns c
           WHERE c.table_schema = %s AND c.table_name = %s ORDER BY c.ordinal_position""",
        (schema, table),
    ).fetchall()
    return {
        r[0]: dict(data_type=r[1], udt=r[2], nullable=r[3], generated=r[4], identity=r[5], default=r[6]) for r in rows
    }


def _foreign_keys(conn: psycopg.Connection, table: str, schema: str = "patrimoine") -> dict[str, str]:
    rows = conn.execute(
        """SELECT a.attname, n.nspname || '.' || t.relname
           FROM pg_constraint k
           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
           JOIN pg_class t ON t.oid = k.confrelid JOIN pg_namespace n ON n.oid = t.relnamespace
           WHERE k.contype = 'f' AND k.conrelid = %s::regclass""",
        (f"{schema}.{table}",),
    ).fetchall()
    return dict(rows)


@pytest.mark.parametrize("layer", CATALOGUE.layers.values(), ids=lambda layer: layer.name)
def test_columns_match_catalogue(conn: psycopg.Connection, layer) -> None:
    columns = _columns(conn, layer.table, layer.schema)
    expected = [a.name for a in layer.attributes] + ["geom"]
    assert sorted(columns) == sorted(expected), f"columns of {layer.schema}.{layer.table} differ from the catalogue"
    fks = _foreign_keys(conn, layer.table, layer.schema)
    for attr in layer.attributes:
        col = columns[attr.name]
        assert col["data_type"] == attr.sql_type, f"{layer.name}.{attr.name}: type"
        if attr.type in ("codes", "texts"):
            assert col["udt"] == "_text"
        if attr.type == "bigints":
            assert col["udt"] == "_int8"
        assert col["generated"] == attr.generated, f"{layer.name}.{attr.name}: generated"
        assert col["identity"] == (attr.type == "identity"), f"{layer.name}.{attr.name}: identity"
        if attr.required or attr.system or attr.type == "jsonb" or attr.name == layer.key:
            assert not col["nullable"], f"{layer.name}.{attr.name} should be NOT NULL"
        elif not attr.generated:
            assert col["nullable"], f"{layer.name}.{attr.name} should accept NULL (not required in catalogue)"
        if attr.type == "code":
            assert fks.get(attr.name) == f"patrimoine_vl.{attr.codelist}", f"{layer.name}.{attr.name}: FK"
        elif layer.kind == "result":  # results reference only their parent run (plan, scenario)
            assert fks.get(attr.name, "analysis.").startswith("analysis."), f"{layer.name}.{attr.name}: FK"
        elif attr.type == "commune":
            assert fks.get(attr.name) == "patrimoine.commune"
        elif attr.type == "reference":
            assert fks.get(attr.name) == f"patrimoine.{attr.references}"
        else:
            assert attr.name not in fks, f"{layer.name}.{attr.name}: unexpected FK"
        if attr.default is not None:
            assert col["default"] is not None and str(attr.default) in col["default"]


@pytest.mark.parametrize("layer", CATALOGUE.layers.values(), ids=lambda layer: layer.name)
def test_geometry_and_ranges_match_catalogue(conn: psycopg.Connection, layer) -> None:
    srid = int(conn.execute("SELECT value FROM patrimoine_sys.setting WHERE key = 'srid'").fetchone()[0])
    gtype, gsrid = conn.execute(
        "SELECT type, srid FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s",
        (layer.schema, layer.table),
    ).fetchone()
    assert gtype.lower() == layer.geometry.lower() and gsrid == srid
    assert (
        conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND tablename = %s "
            "AND indexdef ILIKE '%%USING gist (geom)%%'",
            (layer.schema, layer.table),
        ).fetchone()[0]
        == 1
    )
    checks = dict(
        conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'c'",
            (f"{layer.schema}.{layer.table}",),
        ).fetchall()
    )
    if layer.kind == "result":  # written by the analyses from valid network geometry, never by hand
        return
    assert f"{layer.table}_geom_valid" in checks
    for attr in layer.attributes:
        if attr.min is None and attr.max is None:
            continue
        definition = checks.get(f"{layer.table}_{attr.name}_range")
        assert definition, f"{layer.name}.{attr.name}: no range check for min/max in the catalogue"
        bounds = [float(x) for x in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?", definition)]
        expected = [b for b in (attr.min, attr.max) if b is not None]
        assert bounds == expected, f"{layer.name}.{attr.name}: check {definition} vs catalogue {expected}"


def test_codelists_match_catalogue(conn: psycopg.Connection) -> None:
    tables = {
        r[0]
        for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'patrimoine_vl'")
    }
    assert tables == set(CATALOGUE.codelists)
    for name, codelist in CATALOGUE.codelists.items():
        rows = conn.execute(
            f"SELECT code, label_fr, label_en FROM patrimoine_vl.{name} WHERE active ORDER BY sort_order"  # noqa: S608
        ).fetchall()
        assert rows == [(v.code, v.fr, v.en) for v in codelist.values], name


AUDIT = ["id", "created_at", "updated_at", "updated_by"]


@pytest.mark.parametrize("table", CATALOGUE.tables.values(), ids=lambda table: table.name)
def test_diagnostic_tables_match_catalogue(conn: psycopg.Connection, table) -> None:
    """The diagnostic's tables (layers/diagnostic/): columns, types, NOT NULL, code-list FKs, ranges, history."""
    columns = _columns(conn, table.name)
    assert sorted(columns) == sorted([a.name for a in table.attributes] + AUDIT), table.name
    fks = _foreign_keys(conn, table.name)
    checks = dict(
        conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'c'",
            (f"patrimoine.{table.name}",),
        ).fetchall()
    )
    for attr in table.attributes:
        col = columns[attr.name]
        assert col["data_type"] == attr.sql_type, f"{table.name}.{attr.name}: type"
        assert col["nullable"] == (not attr.required), f"{table.name}.{attr.name}: NOT NULL iff required"
        if attr.type == "code":
            assert fks.get(attr.name) == f"patrimoine_vl.{attr.codelist}", f"{table.name}.{attr.name}: FK"
        elif attr.type == "commune":
            assert fks.get(attr.name) == "patrimoine.commune"
        elif attr.type == "reference":
            assert fks.get(attr.name) == f"patrimoine.{attr.references}"
        else:
            assert attr.name not in fks
        if attr.default is not None:
            assert col["default"] is not None and str(attr.default).lower() in col["default"].lower()
        if attr.min is not None or attr.max is not None:
            definition = checks.get(f"{table.name}_{attr.name}_range")
            assert definition, f"{table.name}.{attr.name}: no range check"
            bounds = [float(x) for x in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?", definition)]
            assert bounds == [b for b in (attr.min, attr.max) if b is not None], f"{table.name}.{attr.name}"
    triggers = {
        r[0]
        for r in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            (f"patrimoine.{table.name}",),
        )
    }
    assert {"log_insert", "log_update", "log_delete", f"{table.name}_rights_update"} <= triggers
