"""`gis-patrimoine analyse ...`: the analyses over the inventory (workload, network, rounds, lookup)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.table import Table

from gis_patrimoine.analysis.workload import totals, workload
from gis_patrimoine.cli_common import console, database_url_or_exit, fail

analyse_app = typer.Typer(help="Analyses: workload, network, rounds, lookup, parameters.", no_args_is_help=True)


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


@analyse_app.command("params")
def params_cmd(
    set_: Annotated[list[str], typer.Option("--set", help="name=value (speed_kmh.street=25 for a class)")] = [],  # noqa: B006
) -> None:
    """Show (or change) the territory's analysis parameters: crews, shifts, costs, fuel, speeds."""
    from gis_patrimoine.analysis.params import Parameters, parse_assignment, save
    from gis_patrimoine.analysis.params import load as load_params

    with psycopg.connect(database_url_or_exit()) as conn:
        if set_:
            changes: dict = {}
            try:
                for text in set_:
                    name, value = parse_assignment(text)
                    if isinstance(value, dict):
                        changes.setdefault(name, {}).update(value)
                    else:
                        changes[name] = value
                params = save(conn, changes)
            except ValueError as exc:
                fail(str(exc))
        else:
            params = load_params(conn)
    table = Table("parameter", "value", "default", "meaning")
    for name, info in Parameters.model_fields.items():
        default = info.default if info.default_factory is None else info.default_factory()
        table.add_row(name, str(getattr(params, name)), str(default), info.description or "")
    console.print(table)


@analyse_app.command("rounds")
def rounds_cmd(
    service: Annotated[str, typer.Argument(help="lighting, green_spaces, roads or buildings")],
    activity: Annotated[str | None, typer.Option(help="e.g. inspection, sweeping; default: the first")] = None,
    commune: Annotated[list[str], typer.Option(help="INSEE code (repeat); default: all")] = [],  # noqa: B006
    depot: Annotated[list[int], typer.Option(help="Depot id (repeat); default: those serving the communes")] = [],  # noqa: B006
    crews: Annotated[int | None, typer.Option(help="Crews per depot; default: each depot's own")] = None,
    days: Annotated[int | None, typer.Option(help="Working days for the pass; default: as many as needed")] = None,
    seconds: Annotated[float | None, typer.Option(help="Solver time per search")] = None,
    label: Annotated[str | None, typer.Option(help="Name of the plan")] = None,
    geojson: Annotated[Path | None, typer.Option(help="Also write the plan as GeoJSON here")] = None,
    gpx: Annotated[Path | None, typer.Option(help="Also write GPX tracks here")] = None,
    sheet: Annotated[Path | None, typer.Option(help="Also write the printable round sheets (HTML) here")] = None,
) -> None:
    """Compute the rounds of one pass of an activity, store them (collections rounds, round_stops) and export."""
    from gis_patrimoine.analysis import export
    from gis_patrimoine.analysis.access import Unreachable
    from gis_patrimoine.analysis.rounds import DepotProblem, NothingToDo, RoundRequest, plan_rounds, store
    from gis_patrimoine.analysis.vrp import RoundsDoNotFit

    request = RoundRequest(service, activity, commune, depot, crews, days, label, seconds)
    with psycopg.connect(database_url_or_exit()) as conn:
        try:
            with console.status("Planning rounds (snapping, travel matrix, solver on every core)…"):
                plan = plan_rounds(conn, request)
        except (NothingToDo, DepotProblem, Unreachable, RoundsDoNotFit) as exc:
            fail(str(exc))
        plan_id = store(conn, plan)
        s = plan.summary()
        table = Table(
            "round",
            "depot",
            "day",
            "crew",
            "stops",
            "km travel",
            "km work",
            "h on site",
            "h travel",
            title=f"Plan {plan_id}: {plan.layer.collection} {plan.activity.name}",
        )
        for r in plan.rounds:
            table.add_row(
                str(r.number),
                r.depot.name,
                str(r.day),
                str(r.crew),
                str(len(r.stops)),
                f"{r.travel_m / 1000:.1f}",
                f"{r.work_m / 1000:.1f}",
                f"{r.service_s / 3600:.2f}",
                f"{r.travel_s / 3600:.2f}",
            )
        console.print(table)
        console.print(
            f"{s['rounds']} rounds over {s['days']} day(s): {s['km_travel'] + s['km_work']:.1f} km "
            f"({s['km_work']:.1f} working), {s['hours_on_site']:.1f} h on site + {s['hours_travel']:.1f} h travelling"
        )
        for warning in plan.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        for path, text in (
            (geojson, lambda: json.dumps(export.geojson(conn, plan_id))),
            (gpx, lambda: export.gpx(conn, plan_id)),
            (sheet, lambda: export.sheet(conn, plan_id)),
        ):
            if path is not None:
                path.write_text(text(), encoding="utf-8")
                console.print(f"wrote {path}")


@analyse_app.command("lookup")
def lookup_cmd(
    lon: Annotated[float | None, typer.Option()] = None,
    lat: Annotated[float | None, typer.Option()] = None,
    collection: Annotated[str | None, typer.Option(help="e.g. street_lights")] = None,
    asset: Annotated[int | None, typer.Option("--id", help="Asset id in that collection")] = None,
    service: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Which depot and round serve a place (lon/lat) or an asset, from the latest stored plans."""
    from gis_patrimoine.analysis.lookup import lookup

    with psycopg.connect(database_url_or_exit()) as conn:
        try:
            answers = lookup(conn, lon=lon, lat=lat, collection=collection, asset_id=asset, service=service)
        except (ValueError, KeyError) as exc:
            fail(str(exc))
    if not answers:
        fail("no stored round serves this; run `gis-patrimoine analyse rounds` first")
    table = Table("service", "activity", "plan", "round", "depot", "day", "crew", "stop", "arrival (min)")
    for a in answers:
        table.add_row(
            a["service"],
            a["activity"],
            str(a["plan_id"]),
            str(a["round"]),
            a["depot_name"],
            str(a["day"]),
            str(a["crew"]),
            f"{a['stop']}: {a['stop_label']}",
            f"{a['arrival_min']:.0f}",
        )
    console.print(table)


@analyse_app.command("network")
def network_cmd(
    far: Annotated[float, typer.Option(help="Report assets farther than this from any road (m)")] = 150.0,
) -> None:
    """The routable network: connected parts, and assets too far from any road to be reached."""
    from gis_patrimoine.analysis.network import network_report

    with psycopg.connect(database_url_or_exit()) as conn:
        report = network_report(conn, far)
    console.print(
        f"{report['segments']:,} segments, {report['km']:,.1f} km, {len(report['components'])} connected part(s): "
        + ", ".join(f"{c['segments']} segments ({c['km']:.1f} km)" for c in report["components"][:8])
    )
    table = Table("layer", "assets farther than " + f"{far:g} m", "farthest (id, m)")
    for layer, items in report["far_assets"].items():
        table.add_row(layer, str(len(items)), ", ".join(f"{i} ({d:.0f})" for i, d in items[:5]))
    console.print(table)


@analyse_app.command("compare")
def compare_cmd(
    service: Annotated[list[str], typer.Argument(help="Services to compare; default: all four")] = [],  # noqa: B006
    activity: Annotated[str | None, typer.Option(help="With one service: its activity (default: the first)")] = None,
    seconds: Annotated[float, typer.Option(help="Solver time per round problem, at most")] = 0.5,
) -> None:
    """ "Each commune alone" vs "pooled" (depot catchments across boundaries), per service: annual km, crew hours,
    crews, cost, CO2, per commune with the cost-sharing key; stored as scenarios (collection scenario_communes)."""
    import time

    from gis_patrimoine.analysis.rounds import DepotProblem, NothingToDo
    from gis_patrimoine.analysis.scenarios import commune_names, compare, main_activities, store

    wanted = [(s, activity) for s in service] if service else main_activities()
    with psycopg.connect(database_url_or_exit()) as conn:
        names = commune_names(conn)
        summary = Table(
            "service",
            "activity",
            "km alone",
            "km pooled",
            "crew h alone",
            "crew h pooled",
            "cost alone €",
            "cost pooled €",
            "saving",
            "CO2 saved kg",
            "scenario",
            title="Alone vs pooled, per year",
        )
        for svc, act in wanted:
            start = time.perf_counter()
            try:
                with console.status(f"{svc}: rounds commune by commune, then per pooled zone…"):
                    comparison = compare(conn, svc, act, seconds=seconds)
            except (NothingToDo, DepotProblem) as exc:
                fail(str(exc))
            sid = store(conn, comparison)
            t = comparison.table(names)
            a, p = t["alone"], t["pooled"]
            summary.add_row(
                svc,
                t["activity"],
                f"{a['km']:,.0f}",
                f"{p['km']:,.0f}",
                f"{a['crew_hours']:,.0f}",
                f"{p['crew_hours']:,.0f}",
                f"{a['cost_eur']:,.0f}",
                f"{p['cost_eur']:,.0f}",
                f"{t['saving_pct']['cost_eur']:.1f} %",
                f"{t['saving']['co2_kg']:,.0f}",
                str(sid),
            )
            console.print(f"{svc}: {time.perf_counter() - start:.1f} s")
            for note in t["notes"]:
                console.print(f"[yellow]note:[/] {note}")
        console.print(summary)
