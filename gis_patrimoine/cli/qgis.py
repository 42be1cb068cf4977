"""`gis-patrimoine qgis ...`: default styles in layer_styles, and the QGIS project (in the database and .qgz)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import psycopg
import typer

from gis_patrimoine.cli.common import console, database_url_or_exit, fail

qgis_app = typer.Typer(help="QGIS: default layer styles and the ready-made project.", no_args_is_help=True)


@qgis_app.command("styles")
def styles_cmd() -> None:
    """(Re)write the default style of every layer in public.layer_styles (db init does it too)."""
    from gis_patrimoine.qgis.styles import write_styles

    with psycopg.connect(database_url_or_exit()) as conn:
        written = write_styles(conn)
    console.print(f"{written} default styles written." if written else "Styles up to date.")


@qgis_app.command("project")
def project_cmd(
    qgz: Annotated[Path | None, typer.Option(help="Also write a .qgz here (with pg_service.conf beside it)")] = None,
    api_url: Annotated[
        str | None, typer.Option(help="Add the running server's OGC API and tiles, e.g. http://127.0.0.1:8000")
    ] = None,
) -> None:
    """Store the QGIS project in the database (Project > Open From > PostgreSQL) and optionally as a file."""
    from gis_patrimoine.db.migrations import stored_srid
    from gis_patrimoine.qgis.project import QgisMissing, write_project
    from gis_patrimoine.qgis.styles import write_styles

    url = database_url_or_exit()
    with psycopg.connect(url) as conn:
        write_styles(conn)
        srid = stored_srid(conn)
    try:
        report = write_project(url, srid or 2154, qgz, api_url.rstrip("/") if api_url else None)
    except (QgisMissing, RuntimeError) as exc:
        fail(str(exc))
    for target, r in report.items():
        valid = sum(layer["valid"] for layer in r["layers"])
        state = "written" if r["written"] else f"NOT written: {r['error']}"
        console.print(f"{target}: {state}, {valid}/{len(r['layers'])} layers valid", highlight=False)
