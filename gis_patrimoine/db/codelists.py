"""Keep the value-list tables (`patrimoine_vl.*`) in step with `layers/codelists.yaml`.

Codes are added or relabelled; codes that left the catalogue are marked inactive, never deleted (old rows
and the history still refer to them). Rows already equal are not touched, so a second sync writes nothing.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from gis_patrimoine.catalogue import Catalogue


def sync_codelists(conn: psycopg.Connection, catalogue: Catalogue) -> int:
    """Upsert every code list; returns the number of rows written. Commits."""
    changed = 0
    with conn.transaction():
        for name, codelist in catalogue.codelists.items():
            table = sql.Identifier("patrimoine_vl", name)
            if conn.execute("SELECT to_regclass(%s)", (f"patrimoine_vl.{name}",)).fetchone()[0] is None:
                raise RuntimeError(
                    f"code list {name!r} is in layers/codelists.yaml but has no table patrimoine_vl.{name}: "
                    "run `gis-patrimoine db init` (the migration generated from the catalogue creates it)"
                )
            # defaults the catalogue gives a code (e.g. a road class's speed) go to `default_<key>` columns
            extra = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'patrimoine_vl' "
                    "AND table_name = %s AND column_name LIKE 'default\\_%%' ORDER BY 1",
                    (name,),
                )
            ]
            columns = ["code", "label_fr", "label_en", "sort_order", *extra]
            rows = [
                (v.code, v.fr, v.en, i, *(v.defaults.get(c.removeprefix("default_")) for c in extra))
                for i, v in enumerate(codelist.values)
            ]
            values = columns[1:]
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL(
                        "INSERT INTO {t} AS v ({cols}, active) VALUES ({marks}, true) "
                        "ON CONFLICT (code) DO UPDATE SET {sets}, active = true "
                        "WHERE ({old}, v.active) IS DISTINCT FROM ({new}, true)"
                    ).format(
                        t=table,
                        cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
                        marks=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                        sets=sql.SQL(", ").join(
                            sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in values
                        ),
                        old=sql.SQL(", ").join(sql.SQL("v.{}").format(sql.Identifier(c)) for c in values),
                        new=sql.SQL(", ").join(sql.SQL("excluded.{}").format(sql.Identifier(c)) for c in values),
                    ),
                    rows,
                )
                changed += max(cur.rowcount, 0)
                cur.execute(
                    sql.SQL("UPDATE {t} SET active = false WHERE active AND NOT code = ANY(%s)").format(t=table),
                    (codelist.codes,),
                )
                changed += max(cur.rowcount, 0)
    return changed
