"""Backups: pg_dump's custom format of the whole database (inventory, history, journal, results, styles,
the stored QGIS project), and its restore into a database, in one transaction.

The client tools of the server's major version are used (/usr/lib/postgresql/N/bin), so a dump taken here
restores on the same major version or a later one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from gis_patrimoine.db.cluster import pg_bindir
from gis_patrimoine.db.connection import connection_params
from gis_patrimoine.settings import get_settings


class BackupFailed(RuntimeError):
    """pg_dump or pg_restore said no; the message is theirs (passwords are never in it)."""


def _env_args(url: str) -> tuple[list[str], dict[str, str]]:
    p = connection_params(url)
    args = ["--host", p["host"], "--port", p["port"], "--username", p["user"], "--dbname", p["dbname"]]
    env = {"PATH": "/usr/bin:/bin"}
    if "password" in p:
        env["PGPASSWORD"] = p["password"]  # not on the command line, where ps would show it
    return args, env


def backup(url: str, path: Path) -> Path:
    args, env = _env_args(url)
    tool = pg_bindir(get_settings().pg_version) / "pg_dump"
    result = subprocess.run(
        [str(tool), "--format=custom", "--no-owner", "--file", str(path), *args],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        raise BackupFailed(result.stderr.strip() or "pg_dump failed")
    return path


def restore(url: str, path: Path) -> None:
    """Restore a backup into the database of `url` (objects replaced), all or nothing."""
    if not path.exists():
        raise BackupFailed(f"{path}: no such backup")
    args, env = _env_args(url)
    tool = pg_bindir(get_settings().pg_version) / "pg_restore"
    result = subprocess.run(
        [
            str(tool),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            *args,
            str(path),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        raise BackupFailed(result.stderr.strip() or "pg_restore failed")
