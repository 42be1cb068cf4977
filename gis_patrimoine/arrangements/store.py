"""A comparison kept: its result, and per arrangement and commune the payments (collection arrangement_communes)."""

from __future__ import annotations

import json

import psycopg

from gis_patrimoine.arrangements.definition import AGGLO


def start(conn: psycopg.Connection, user: str | None = None) -> int:
    """A comparison being computed (a background job): its row, running, read by any API worker."""
    with conn.transaction():
        return conn.execute(
            "INSERT INTO analysis.arrangement_run (status, created_by) VALUES ('running', %s) RETURNING id", (user,)
        ).fetchone()[0]


def progress(conn: psycopg.Connection, run_id: int, done: int, total: int, step: str) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE analysis.arrangement_run SET progress = %s WHERE id = %s",
            (json.dumps({"done": done, "total": total, "step": step}), run_id),
        )


def fail(conn: psycopg.Connection, run_id: int, error: str) -> None:
    with conn.transaction():
        conn.execute("UPDATE analysis.arrangement_run SET status = 'failed', error = %s WHERE id = %s", (error, run_id))


def store(conn: psycopg.Connection, result: dict, user: str | None = None, run_id: int | None = None) -> int:
    """The comparison and its per-commune lines, in one transaction; returns the run id (`run_id`: the row
    of a job, completed)."""
    with conn.transaction():
        if run_id is None:
            run_id = conn.execute(
                "INSERT INTO analysis.arrangement_run (result, created_by) VALUES (%s, %s) RETURNING id",
                (json.dumps(result), user),
            ).fetchone()[0]
        else:
            conn.execute(
                "UPDATE analysis.arrangement_run SET result = %s, status = 'done' WHERE id = %s",
                (json.dumps(result), run_id),
            )
        rows = []
        for a in result["arrangements"]:
            for c in a["communes"]:
                if c["commune"] == AGGLO:
                    continue  # no outline of its own: its part is in the result
                base = c["status_quo_eur"]
                rows.append(
                    (run_id, a["name"], a["title"], c["group"], base, c["pays_eur"]["use"],
                     c["pays_eur"]["population"], c["pays_eur"]["stand_alone"], c["saving_eur"]["use"],
                     round(100 * c["saving_eur"]["use"] / base, 1) if base else 0.0, c["pays_more_than_alone"],
                     c["commune"])
                )  # fmt: skip
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO analysis.arrangement_commune (run_id, arrangement, title, commune_insee, name, "
                "group_name, status_quo_eur, pays_use_eur, pays_population_eur, pays_stand_alone_eur, saving_eur, "
                "saving_pct, pays_more_under, geom) SELECT %s, %s, %s, insee, name, %s, %s, %s, %s, %s, %s, %s, %s, "
                "ST_Multi(geom) FROM patrimoine.commune WHERE insee = %s",
                rows,
            )
    return run_id


def load(conn: psycopg.Connection, run_id: int) -> dict:
    row = conn.execute(
        "SELECT result, created_at FROM analysis.arrangement_run WHERE id = %s AND status = 'done'", (run_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"no comparison {run_id} done; list them at /analysis/arrangements")
    return {"id": run_id, "created_at": row[1].isoformat(), **row[0]}
