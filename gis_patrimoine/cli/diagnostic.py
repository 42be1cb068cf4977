"""`gis-patrimoine diagnostic ...`: the questionnaire workbook — template, import (all or nothing), export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.table import Table

from gis_patrimoine.cli.common import console, database_url_or_exit, fail, show

diagnostic_app = typer.Typer(
    help="The shared diagnostic: staff, equipment, depots, contracts, purchases (questionnaire workbook).",
    no_args_is_help=True,
)


@diagnostic_app.command("template")
def template_cmd(path: Annotated[Path, typer.Argument(help="The workbook to write (.xlsx)")]) -> None:
    """Write the questionnaire a town hall fills in: a sheet per table, French headers with help, drop-downs."""
    from gis_patrimoine.diagnostic.load import template

    with psycopg.connect(database_url_or_exit()) as conn:
        template(conn, path)
    console.print(f"wrote {path}")


@diagnostic_app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="A filled workbook (.xlsx), or one table as .csv")],
    table: Annotated[str | None, typer.Option(help="With a CSV: its table (default: the file's name)")] = None,
    encoding: Annotated[str | None, typer.Option(help="With a CSV: its encoding (default UTF-8)")] = None,
) -> None:
    """Load a questionnaire, all or nothing: its communes' previous answers are replaced (kept in the history)."""
    from gis_patrimoine.diagnostic.load import DiagnosticRefused, load_file
    from gis_patrimoine.diagnostic.workbook import WorkbookError

    if not path.is_file():
        fail(f"{path}: no such file")
    with psycopg.connect(database_url_or_exit()) as conn:
        try:
            report = load_file(conn, path, table, encoding)
        except (DiagnosticRefused, WorkbookError) as exc:
            fail(str(exc))
        except psycopg.errors.InsufficientPrivilege as exc:  # a login's rights: the database's own message
            fail(f"{path.name}: nothing was loaded: {exc.diag.message_primary or exc}")
        except psycopg.Error as exc:
            from gis_patrimoine.db.errors import translate

            fail(f"{path.name}: nothing was loaded: {translate(exc).message}")
    summary = Table("table", "rows loaded", "previous rows replaced", title=f"{report.file}: loaded")
    for name, n in report.written.items():
        summary.add_row(name, str(n), str(report.replaced.get(name, 0)))
    show(summary)
    if report.unchanged:
        console.print(f"unchanged (the same answers as before): {', '.join(report.unchanged)}")
    console.print(f"communes answered: {', '.join(report.communes)}")


@diagnostic_app.command("export")
def export_cmd(
    path: Annotated[Path, typer.Argument(help="The workbook to write (.xlsx)")],
    commune: Annotated[list[str], typer.Option(help="INSEE code (repeat; agglo for the agglomération)")] = [],  # noqa: B006
) -> None:
    """The answers stored, in the questionnaire's own format (to check, correct and send back)."""
    from gis_patrimoine.diagnostic.load import export

    with psycopg.connect(database_url_or_exit()) as conn:
        export(conn, path, commune or None)
    console.print(f"wrote {path}")
