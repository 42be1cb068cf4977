"""`gis-patrimoine history ...`: a feature's changes (who, when, what), and restore (undo)."""

from __future__ import annotations

from typing import Annotated

import psycopg
import typer
from rich.table import Table

from gis_patrimoine.cli.common import console, database_url_or_exit, fail, show

history_app = typer.Typer(help="History of changes: show a feature's versions, restore one.", no_args_is_help=True)


@history_app.command("show")
def show_cmd(
    collection: Annotated[str, typer.Argument(help="e.g. street_lights")],
    feature_id: Annotated[str, typer.Argument(help="The feature's id")],
) -> None:
    """Every change of a feature: history id (a version), operation, when, who, fields changed."""
    from gis_patrimoine.catalogue import get_catalogue
    from gis_patrimoine.db.restore import versions

    layer = get_catalogue().layer(collection)
    with psycopg.connect(database_url_or_exit()) as conn:
        rows = versions(conn, layer, feature_id)
    table = Table("version", "operation", "when", "login", "API user", "changed")
    for hid, op, when, login, app_user, fields in rows:
        table.add_row(str(hid), op, f"{when:%Y-%m-%d %H:%M:%S}", login, app_user or "", ", ".join(fields or []))
    show(table)


@history_app.command("restore")
def restore_cmd(
    collection: Annotated[str, typer.Argument(help="e.g. street_lights")],
    feature_id: Annotated[str, typer.Argument(help="The feature's id")],
    version: Annotated[int | None, typer.Option(help="A version (history id, see `history show`)")] = None,
) -> None:
    """Bring back a deleted feature as it was, or a feature as it was at a version."""
    from gis_patrimoine.db.restore import NothingToRestore, restore

    with psycopg.connect(database_url_or_exit()) as conn:
        try:
            console.print(restore(conn, collection, feature_id, version))
        except (NothingToRestore, KeyError) as exc:
            fail(str(exc).strip("'\""))
        except psycopg.errors.InsufficientPrivilege as exc:
            fail(str(exc).splitlines()[0])
