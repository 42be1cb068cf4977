"""`gis-patrimoine analyse ...`: the analyses over the inventory (workload first; rounds and zones follow)."""

from __future__ import annotations

from typing import Annotated

import psycopg
import typer
from rich.table import Table

from gis_patrimoine.analysis.workload import totals, workload
from gis_patrimoine.cli_common import console, database_url_or_exit

analyse_app = typer.Typer(help="Analyses: workload (rounds, zones and scenarios to come).", no_args_is_help=True)


@analyse_app.command("workload")
def workload_cmd(
    commune: Annotated[list[str], typer.Option(help="Only these communes (INSEE codes)")] = [],  # noqa: B006
    service: Annotated[str | None, typer.Option(help="lighting, green_spaces, roads or buildings")] = None,
    detail: Annotated[bool, typer.Option(help="One line per activity")] = False,
) -> None:
    """Annual on-site hours per commune and service, from the catalogue's maintenance model."""
    with psycopg.connect(database_url_or_exit()) as conn:
        rows = workload(conn, communes=commune or None, service=service)
        names = dict(conn.execute("SELECT insee, name FROM patrimoine.commune").fetchall())
    if detail:
        table = Table("commune", "service", "layer", "activity", "assets", "visits/yr", "hours/yr")
        for r in rows:
            table.add_row(
                names.get(r.commune, r.commune),
                r.service,
                r.layer,
                r.activity,
                f"{r.assets:,}",
                f"{r.visits_per_year:g}",
                f"{r.hours_per_year:,.0f}",
            )
    else:
        services = sorted({r.service for r in rows})
        by = totals(rows)
        table = Table("commune", *services, "total", title="On-site hours per year")
        for code in sorted({r.commune for r in rows}, key=lambda c: names.get(c, c)):
            values = [by.get((code, s), 0.0) for s in services]
            table.add_row(names.get(code, code), *(f"{v:,.0f}" for v in values), f"{sum(values):,.0f}")
    console.print(table)
