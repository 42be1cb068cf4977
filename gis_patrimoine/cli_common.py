"""What every command shares: the consoles, the way to fail, the database URL (or a clear exit)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from gis_patrimoine.db import cluster
from gis_patrimoine.db.connection import database_url

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def database_url_or_exit() -> str:
    """DATABASE_URL or the local cluster's; without either, a message saying how to get one."""
    try:
        return database_url()
    except cluster.ClusterError as exc:
        fail(str(exc))
