"""`gis-patrimoine analyse arrangements`: the pooling arrangements costed side by side, with progress."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gis_patrimoine.cli.analyse import analyse_app, refused
from gis_patrimoine.cli.common import console, database_url_or_exit, fail, show


def _eur(v: float) -> str:
    return f"{v:,.0f}"


@analyse_app.command("arrangements")
def arrangements_cmd(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Arrangements (YAML); default: those the product proposes")
    ] = None,
    iterations: Annotated[int, typer.Option(help="Solver iterations per round problem (same result anywhere)")] = 150,
    draws: Annotated[int, typer.Option(help="Draws of the uncertain assumptions for the ranges")] = 200,
    report: Annotated[Path | None, typer.Option(help="Write the director's report (HTML) to this file")] = None,
    output: Annotated[Path | None, typer.Option("--json", help="Write the whole result (JSON) to this file")] = None,
    proposals: Annotated[bool, typer.Option(help="Only print the proposed arrangements (YAML) and stop")] = False,
    commune: Annotated[list[str], typer.Option(help="Compare these communes only (INSEE; repeat)")] = [],  # noqa: B006
) -> None:
    """Cost pooling arrangements for a year — status quo, common service, the agglomération's services, hubs of
    neighbouring communes, full pooling with optimised depots, or your own (--file) — from each one's own rounds:
    € with a range, whole posts, machines, depots, km, CO2, one-off costs, what each commune pays under three
    keys. Stored as the collection arrangement_communes; `--report` writes the director's page."""
    import yaml

    from gis_patrimoine.arrangements.definition import load_file
    from gis_patrimoine.arrangements.inputs import load
    from gis_patrimoine.arrangements.propose import propose
    from gis_patrimoine.arrangements.report import render
    from gis_patrimoine.arrangements.run import compare
    from gis_patrimoine.arrangements.store import load as load_run
    from gis_patrimoine.arrangements.store import store

    try:
        chosen = load_file(file) if file else None
    except ValueError as exc:
        fail(str(exc))
    with psycopg.connect(database_url_or_exit()) as conn:
        if proposals:
            offered = propose(conn, load(conn), communes=commune or None)
            text = yaml.safe_dump(
                {"arrangements": [a.model_dump(exclude_defaults=True) for a in offered]},
                sort_keys=False,
                allow_unicode=True,
                width=110,
            )
            sys.stdout.write(text)  # a file to edit and give back with --file
            return
        start = time.perf_counter()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with refused(), Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("round problems", total=None)

            def progress(done: int, total: int, label: str) -> None:
                bar.update(task, completed=done, total=total, description=label[:60])

            try:
                result = compare(
                    conn, chosen, iterations=iterations, draws=draws, progress=progress, communes=commune or None
                )
            except ValueError as exc:
                fail(str(exc))
        run_id = store(conn, result)
        table = Table(
            "arrangement", "€ a year", "range (10–90 %)", "saving", "one-off €", "payback y", "posts", "machines",
            "depots", "km", "CO2 t", title=f"Pooling arrangements (comparison {run_id})",
        )  # fmt: skip
        for a in result["arrangements"]:
            table.add_row(
                a["name"], _eur(a["total_eur"]), f"{_eur(a['range_eur'][0])} – {_eur(a['range_eur'][1])}",
                f"{a['saving_pct']:+.1f} %" + (" ~" if a["saving_within_spread"] else ""), _eur(a["one_off_eur"]),
                "—" if a["payback_years"] is None else f"{a['payback_years']:g}", str(a["posts_total"]),
                str(sum(a["machines_needed"].values())), f"{len(a['depots_kept'])}", _eur(a["km"]), f"{a['co2_t']:g}",
            )  # fmt: skip
        show(table)
        rob = result["robustness"]
        console.print(
            f"cheapest: {rob['best']} in {rob['best_share']:.0%} of {rob['draws']} draws "
            f"({'robust' if rob['robust'] else 'NOT robust'}); '~': the saving is within the uncertainty"
        )
        for a in result["arrangements"]:
            losers = {k: v for k, v in a["losers_by_key"].items() if v}
            if losers:
                console.print(f"[yellow]{a['name']}[/]: pays more than alone — " + "; ".join(
                    f"by {k.replace('_', ' ')}: {', '.join(v)}" for k, v in losers.items()))  # fmt: skip
        console.print(
            f"{time.perf_counter() - start:.0f} s; stored as comparison {run_id} (collection arrangement_communes)"
        )
        if report is not None:
            report.write_text(render(conn, load_run(conn, run_id)), encoding="utf-8")
            console.print(f"report: {report}")
        if output is not None:
            output.write_text(json.dumps(load_run(conn, run_id), indent=1, ensure_ascii=False), encoding="utf-8")
