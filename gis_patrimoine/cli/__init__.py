"""The `gis-patrimoine` command line: one module per command group, each imported here and registered.

The commands import the heavy parts (importer, FastAPI, the analyses) only when they run, so that `--help`
and quick commands start fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gis_patrimoine.cli.analyse import analyse_app
from gis_patrimoine.cli.arrangements import arrangements_cmd  # noqa: F401  (registers `analyse arrangements`)
from gis_patrimoine.cli.common import OUTPUT, console, fail, write_json
from gis_patrimoine.cli.db import db_app
from gis_patrimoine.cli.demo import demo_app
from gis_patrimoine.cli.diagnostic import diagnostic_app
from gis_patrimoine.cli.history import history_app
from gis_patrimoine.cli.qgis import qgis_app
from gis_patrimoine.cli.serve import serve_cmd
from gis_patrimoine.cli.transfer import export_cmd, import_app
from gis_patrimoine.cli.users import users_app

app = typer.Typer(help="gis-patrimoine: public-space assets of the communes, pooled.", no_args_is_help=True)


@app.callback()
def main(
    ctx: typer.Context,
    output: Annotated[
        str, typer.Option("--format", help="Tables as: table (drawn), csv or json (for scripts)")
    ] = "table",
) -> None:
    """gis-patrimoine: public-space assets of the communes, pooled."""
    if output not in ("table", "csv", "json"):
        fail(f"--format {output!r}: use table, csv or json")
    OUTPUT["format"] = output  # type: ignore[typeddict-item]
    if output != "table":  # the data alone on stdout; what a person reads goes to stderr
        console.file = sys.stderr
    if output == "json":
        ctx.call_on_close(write_json)


app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.command("export")(export_cmd)
app.add_typer(demo_app, name="demo")
app.command("serve")(serve_cmd)
app.add_typer(users_app, name="users")
app.add_typer(analyse_app, name="analyse")
app.add_typer(qgis_app, name="qgis")
app.add_typer(history_app, name="history")
app.add_typer(diagnostic_app, name="diagnostic")
