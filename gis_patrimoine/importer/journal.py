"""The import journal (`patrimoine_sys.import_job`), written on its own connection.

The import itself is one transaction; the journal row is committed separately so that a failed or
abandoned import leaves its trace too.
"""

from __future__ import annotations

import json

import psycopg
from psycopg.types.json import Jsonb


def open_job(
    url: str,
    layer: str,
    file_name: str,
    sha: str | None,
    source: str | None,
    mode: str | None,
    options: dict,
    app_user: str | None,
) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        if app_user:
            conn.execute("SELECT set_config('gis_patrimoine.user', %s, false)", (app_user,))
        return conn.execute(
            "INSERT INTO patrimoine_sys.import_job (layer, file_name, file_sha256, source, mode, options) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (layer, file_name, sha, source, mode, Jsonb(json.loads(json.dumps(options, default=str)))),
        ).fetchone()[0]


def close_job(
    url: str,
    job_id: int,
    status: str,
    counts: dict,
    message: str | None = None,
    details: dict | None = None,
    sha: str | None = None,
) -> None:
    """The job's end: status, counts, the error, `details` (refused features listed, warnings) and the file's
    SHA-256 when it was computed during the import."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE patrimoine_sys.import_job SET status = %s, counts = %s, message = %s, details = %s, "
            "file_sha256 = coalesce(%s, file_sha256), finished_at = clock_timestamp() WHERE id = %s",
            (status, Jsonb(counts), message, Jsonb(json.loads(json.dumps(details or {}, default=str))), sha, job_id),
        )
