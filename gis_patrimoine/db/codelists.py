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
                    "add it in a new migration under sql/"
                )
            rows = [(v.code, v.fr, v.en, i) for i, v in enumerate(codelist.values)]
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL(
                        "INSERT INTO {t} AS v (code, label_fr, label_en, sort_order, active) "
                        "VALUES (%s, %s, %s, %s, true) "
                        "ON CONFLICT (code) DO UPDATE SET label_fr = excluded.label_fr, "
                        "label_en = excluded.label_en, sort_order = excluded.sort_order, active = true "
                        "WHERE (v.label_fr, v.label_en, v.sort_order, v.active) "
                        "IS DISTINCT FROM (excluded.label_fr, excluded.label_en, excluded.sort_order, true)"
                    ).format(t=table),
                    rows,
                )
                changed += max(cur.rowcount, 0)
                cur.execute(
                    sql.SQL("UPDATE {t} SET active = false WHERE active AND NOT code = ANY(%s)").format(t=table),
                    (codelist.codes,),
                )
                changed += max(cur.rowcount, 0)
    return changed
