"""`gis-patrimoine analyse ...`: the analyses over the inventory (workload, network, rounds, lookup)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.table import Table

from gis_patrimoine.analysis.errors import AnalysisRefused
from gis_patrimoine.cli.common import console, database_url_or_exit, fail, scripted, show

analyse_app = typer.Typer(help="Analyses: workload, network, rounds, lookup, parameters.", no_args_is_help=True)


@contextmanager
def refused() -> Iterator[None]:
    """An analysis that cannot be done as asked ends with its message (what to change), not a traceback."""
    try:
        yield
    except AnalysisRefused as exc:
        fail(str(exc))


@analyse_app.command("workload")
def workload_cmd(
    commune: Annotated[list[str], typer.Option(help="Only these communes (INSEE codes)")] = [],  # noqa: B006
    service: Annotated[str | None, typer.Option(help="lighting, green_spaces, roads or buildings")] = None,
    detail: Annotated[bool, typer.Option(help="One line per activity")] = False,
) -> None:
    """Annual on-site hours per commune and service, from the catalogue's maintenance model."""
    from gis_patrimoine.analysis.workload import totals, workload

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
    show(table)


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
    show(table)


def _per_year(s: dict) -> str:
    """The pass times the activity's frequency, in words a route planner uses."""
    n = s["passes_per_year"]
    often = (
        f"{n:g} times a year ({n / 52:.1f} a week)" if n >= 52
        else "once a year" if n == 1
        else f"{n:g} times a year" if n > 1
        else f"once every {s['every_years']:g} years"
    )  # fmt: skip
    return (
        f"This pass is made {often}: {s['km_per_year']:,.0f} km and {s['hours_per_year']:,.0f} crew-round hours "
        "(on site and travelling) a year" + (" on average" if n < 1 else "")
    )


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
    strict: Annotated[
        bool, typer.Option(help="Refuse the plan if any asset cannot be reached (default: plan the rest, list them)")
    ] = False,
) -> None:
    """Compute the rounds of one pass of an activity, store them (collections rounds, round_stops) and export.
    Assets the depots cannot reach by road are listed with the reason, and the rest is planned."""
    from gis_patrimoine.analysis import export
    from gis_patrimoine.analysis.rounds import RoundRequest, plan_rounds, store

    request = RoundRequest(service, activity, commune, depot, crews, days, label, seconds, strict=strict)
    with psycopg.connect(database_url_or_exit()) as conn:
        with refused(), console.status("Planning rounds (snapping, travel matrix, solver on every core)…"):
            plan = plan_rounds(conn, request)
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
        show(table, key="rounds")
        console.print(
            f"{s['rounds']} rounds over {s['days']} day(s): {s['km_travel'] + s['km_work']:.1f} km "
            f"({s['km_work']:.1f} working), {s['hours_on_site']:.1f} h on site + {s['hours_travel']:.1f} h travelling"
        )
        console.print(
            f"{s['assets_selected']} {plan.layer.collection} selected: {s['assets']} planned, "
            f"{s['assets_unreachable']} cannot be reached"
            + (
                f"; {s['hours_walk']:.1f} h of the time on site is walking off the driven roads"
                if s["hours_walk"]
                else ""
            )
        )
        if "passes_per_year" in s:
            console.print(_per_year(s))
        print_unreachable(plan.unreachable)
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


def print_unreachable(unreachable: list[dict], limit: int = 15) -> None:
    """The assets a plan could not reach, with the reason and the part of the network they are on."""
    if not unreachable and not scripted():
        return
    table = Table("layer", "assets", "where", "part", "reason", title="Not reachable from the depots (not planned)")
    for u in unreachable[:limit]:
        ids = ", ".join(map(str, u["assets"][:6])) + (" …" if len(u["assets"]) > 6 else "")
        table.add_row(u["layer"], ids, u["label"], str(u["part"] or ""), u["reason"])
    show(table, key="unreachable")
    if len(unreachable) > limit:
        console.print(f"… and {len(unreachable) - limit} more (the plan's summary lists them all)")


@analyse_app.command("lookup")
def lookup_cmd(
    lon: Annotated[float | None, typer.Option()] = None,
    lat: Annotated[float | None, typer.Option()] = None,
    collection: Annotated[str | None, typer.Option(help="e.g. street_lights")] = None,
    asset: Annotated[int | None, typer.Option("--id", help="Asset id in that collection")] = None,
    service: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Which depot and round serve a place (lon/lat) or an asset, from the latest stored plans."""
    from gis_patrimoine.analysis.lookup import lookup, target

    with psycopg.connect(database_url_or_exit()) as conn:
        try:
            answers = lookup(conn, target(lon, lat, collection, asset), service)
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
    show(table)


@analyse_app.command("network")
def network_cmd(
    far: Annotated[float, typer.Option(help="Report assets farther than this from any road (m)")] = 150.0,
    parts: Annotated[int, typer.Option(help="Parts of the network listed")] = 10,
    issues: Annotated[int, typer.Option(help="Issues listed (all are in the network_issues collection)")] = 20,
) -> None:
    """The network repair report: connected parts of the driven network (km, communes, assets served), roads
    not driven, dangles joined and near misses left apart, one-way dead ends, assets far from any road."""
    from gis_patrimoine.analysis.network import network_report

    with psycopg.connect(database_url_or_exit()) as conn:
        report = network_report(conn, far, issues_listed=issues)
    console.print(
        f"{report['roads']:,} roads ({report['roads_km']:,.1f} km) → {report['segments']:,} driven segments "
        f"({report['km']:,.1f} km) in {len(report['components'])} connected part(s), the largest "
        f"{report['largest_part_share']:.1%} of the driven km; not driven (paths, cycleways, tracks): "
        f"{report['not_driven']['segments']:,} segments ({report['not_driven']['km']:,.1f} km)"
    )
    table = Table("part", "segments", "km", "communes", "territory edge", "assets served", title="Connected parts")
    for c in report["components"][:parts]:
        table.add_row(
            str(c["part"]),
            str(c["segments"]),
            f"{c['km']:.1f}",
            ", ".join(c["communes"][:4]) + (" …" if len(c["communes"]) > 4 else ""),
            "yes" if c["reaches_territory_edge"] else "",
            ", ".join(f"{n} {k}" for k, n in sorted(c["assets"].items())),
        )
    show(table)
    counts = report["issues"]["counts"]
    console.print(
        f"Repairs: {counts.get('joined', 0)} dangling end(s) joined, {counts.get('near_miss', 0)} near miss(es) "
        f"left apart, {counts.get('one_way_dead_end', 0)} one-way dead end(s) — all in the network_issues "
        "collection (QGIS layer «Défauts du réseau routier»)"
    )
    if report["issues"]["listed"] or scripted():
        listed = Table("kind", "road", "gap (m)", "reason", title="Issues")
        for i in report["issues"]["listed"]:
            gap = f"{i['distance_m']:.2f}" if i["distance_m"] is not None else ""
            listed.add_row(i["kind"], str(i["road_id"] or ""), gap, i["reason"])
        show(listed)
    table = Table("layer", "assets farther than " + f"{far:g} m", "farthest (id, m)", title="Far assets")
    for layer, items in report["far_assets"].items():
        table.add_row(layer, str(len(items)), ", ".join(f"{i} ({d:.0f})" for i, d in items[:5]))
    show(table)


@analyse_app.command("compare")
def compare_cmd(
    service: Annotated[list[str], typer.Argument(help="Services to compare; default: all four")] = [],  # noqa: B006
    activity: Annotated[str | None, typer.Option(help="With one service: its activity (default: the first)")] = None,
    iterations: Annotated[int, typer.Option(help="Solver iterations per round problem (same result anywhere)")] = 300,
    report: Annotated[Path | None, typer.Option(help="Write each scenario's report (HTML) into this folder")] = None,
) -> None:
    """ "Each commune alone" vs "pooled" (depot catchments across boundaries), per service: annual km, crew hours,
    crews, cost, CO2, per commune with the cost-sharing key; stored as scenarios (collection scenario_communes)."""
    import time

    from gis_patrimoine.analysis.scenarios import commune_names, commune_populations, compare, main_activities, store

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
            with refused(), console.status(f"{svc}: rounds commune by commune, then per pooled zone…"):
                comparison = compare(conn, svc, act, iterations=iterations)
            sid = store(conn, comparison)
            if report is not None:
                from gis_patrimoine.analysis.report import scenario_report

                report.mkdir(parents=True, exist_ok=True)
                (report / f"scenario-{sid}-{svc}.html").write_text(scenario_report(conn, sid), encoding="utf-8")
            t = comparison.table(names, commune_populations(conn))
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
        show(summary)


@analyse_app.command("grid")
def grid_cmd(
    size: Annotated[float, typer.Option(help="Hexagon side in metres")] = 500.0,
    service: Annotated[str | None, typer.Option(help="One service; default: all")] = None,
) -> None:
    """Workload density on a hexagonal grid across commune boundaries (collection workload_grid)."""
    from gis_patrimoine.analysis.grid import store_grid

    with psycopg.connect(database_url_or_exit()) as conn:
        try:
            cells = store_grid(conn, size, service)
        except ValueError as exc:
            fail(str(exc))
    console.print(f"{cells:,} cells with work (hexagons of {size:g} m): collection workload_grid")


@analyse_app.command("areas")
def areas_cmd(
    minutes: Annotated[list[float], typer.Option(help="Isochrone times (repeat)")] = [5.0, 10.0, 15.0],  # noqa: B006
    service: Annotated[str | None, typer.Option(help="Depots serving this service; default: all depots")] = None,
) -> None:
    """Isochrones from each depot and network catchments (collection depot_areas)."""
    from gis_patrimoine.analysis.areas import store_areas

    with psycopg.connect(database_url_or_exit()) as conn, refused():
        made = store_areas(conn, minutes, service)
    console.print(f"{made['isochrones']} isochrones, {made['catchments']} catchments: collection depot_areas")


@analyse_app.command("zones")
def zones_cmd(
    service: Annotated[str, typer.Argument(help="lighting, green_spaces, roads or buildings")],
    size: Annotated[float, typer.Option(help="Cell size (hexagon side, m)")] = 1000.0,
    tolerance: Annotated[float, typer.Option(help="Allowed deviation from each zone's target, e.g. 0.10")] = 0.10,
    depot: Annotated[list[int], typer.Option(help="Candidate depot id (repeat); default: all serving")] = [],  # noqa: B006
    picture: Annotated[Path | None, typer.Option(help="Also draw status quo vs balanced zones to this PNG")] = None,
) -> None:
    """Service zones balanced on workload (and the status quo), contiguous, travel kept short."""
    from gis_patrimoine.analysis.zones import zones

    with psycopg.connect(database_url_or_exit()) as conn:
        with refused():
            result = zones(conn, service, size, tolerance, depot or None)
        if picture is not None:
            from gis_patrimoine.analysis.render import render_zones

            console.print(f"wrote {render_zones(conn, result['run_id'], picture)}")
    for variant in ("balanced", "status_quo"):
        table = Table(
            "depot",
            "crews",
            "hours/yr",
            "target",
            "deviation",
            "longest travel",
            "communes",
            title=f"{service}: {variant.replace('_', ' ')} (run {result['run_id']})",
        )
        for z in result[variant]:
            table.add_row(
                z["depot_name"][:40],
                str(z["crews"]),
                f"{z['hours']:,.0f}",
                f"{z['target_hours']:,.0f}",
                f"{z['deviation_pct']:+.0f} %",
                f"{z['longest_travel_min']:.0f} min",
                ", ".join(f"{c} ({s:.0%})" for c, s in z["commune_shares"].items()),
            )
        show(table, key=variant)
    for note in result.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")


@analyse_app.command("opportunities")
def opportunities_cmd(
    service: Annotated[str, typer.Argument(help="lighting, green_spaces, roads or buildings")],
    activity: Annotated[str | None, typer.Option()] = None,
    top: Annotated[int, typer.Option(help="Candidate pairs to measure with rounds")] = 6,
) -> None:
    """Neighbouring communes ranked by the crew hours pooling them saves (collection opportunities)."""
    from gis_patrimoine.analysis import opportunities

    with psycopg.connect(database_url_or_exit()) as conn, refused():
        ranked = opportunities.rank(conn, service, activity, top=top)
        opportunities.store(conn, ranked, service)
    table = Table("rank", "communes", "hours saved/yr", "km saved/yr", "assets driving it")
    for m in ranked:
        table.add_row(
            str(m["rank"]), m["label"], f"{m['hours_saved']:,.1f}", f"{m['km_saved']:,.1f}", str(len(m["assets"]))
        )
    show(table)  # empty for scripts too ([] in JSON)
    if not ranked:
        console.print("no neighbouring communes would gain: each depot is the nearest for its assets")


@analyse_app.command("equipment")
def equipment_cmd(age: Annotated[int | None, typer.Option(help="Renewal age in years")] = None) -> None:
    """Equipment held vs machine-days needed, status quo vs pooled; assets due for renewal across communes."""
    from gis_patrimoine.analysis.equipment import equipment, renewals

    with psycopg.connect(database_url_or_exit()) as conn, refused():
        eq = equipment(conn)
        due = renewals(conn, age)
    table = Table(
        "equipment", "units", "machine-days/yr", "use (status quo)", "units pooled", "shareable", "use (pooled)"
    )
    for e in eq["equipment"]:
        table.add_row(
            e["equipment"],
            str(e["units_held"]),
            f"{e['machine_days']:,.0f}",
            f"{e['utilisation_status_quo'] or 0:.0%}",
            str(e["units_needed_pooled"]),
            str(e["units_shareable"]),
            f"{e['utilisation_pooled'] or 0:.0%}",
        )
    show(table)
    for d in due:
        console.print(
            f"{d['layer']} {d['type']} installed before {d['installed_before']}: {d['total']:,} in "
            f"{len(d['communes'])} communes — a joint purchase"
        )


@analyse_app.command("diagnostic")
def diagnostic_cmd(
    commune: Annotated[list[str], typer.Option(help="INSEE code (repeat); default: all")] = [],  # noqa: B006
    output: Annotated[Path | None, typer.Option("--json", help="Also write the whole diagnostic as JSON here")] = None,
    picture: Annotated[Path | None, typer.Option(help="Also draw capacity vs work and € per inhabitant (PNG)")] = None,
    report: Annotated[Path | None, typer.Option(help="Also write the printable report (HTML) here")] = None,
) -> None:
    """The shared diagnostic: posts and capacity against the work the inventory needs, machines held vs
    needed, contracts, spending per inhabitant, unit prices side by side. Missing answers show as «—».
    Stored per commune as the collection diagnostic_communes (map overlay, QGIS)."""
    from gis_patrimoine.analysis.diagnostic import diagnostic, store

    with psycopg.connect(database_url_or_exit()) as conn, refused():
        d = diagnostic(conn, commune or None)
        stored = 0
        if not commune:  # the whole territory: kept per commune (collection diagnostic_communes)
            try:
                stored = store(conn, d)
            except psycopg.errors.InsufficientPrivilege:
                conn.rollback()
                console.print("[yellow]not stored:[/] this login may not write analysis results (admins may)")
        names = dict(conn.execute("SELECT insee, name FROM patrimoine.commune").fetchall())
        if report:
            from gis_patrimoine.analysis.diagnostic_report import diagnostic_report

            report.write_text(diagnostic_report(conn, d), encoding="utf-8")
            console.print(f"wrote {report}")
        if picture:
            from gis_patrimoine.analysis.render import render_diagnostic

            render_diagnostic(conn, d, picture)
            console.print(f"wrote {picture}")

    def num(value: float | None, fmt: str = ",.0f") -> str:
        return "—" if value is None else format(value, fmt)

    table = Table(
        "service", "communes answered", "posts (FTE)", "capacity h", "work needed h", "own work h (answered)",
        "contracts €/yr", "under capacity", title="Per service: capacity vs the work the inventory needs",
    )  # fmt: skip
    for s in d["services"]:
        table.add_row(
            s["service"], str(s["communes_answered"]), num(s["posts"], ",.1f"), num(s["capacity_h"]),
            num(s["workload_h"]), num(s["own_work_answered_h"]), num(s["contract_cost_eur"]),
            ", ".join(names.get(c, c) for c in s["under_capacity"]) or "none",
        )  # fmt: skip
    show(table)
    machines = Table("type", "held", "mean age (yr)", "machine-days needed", "held by", title="Machines")
    for m in d["machines"]:
        machines.add_row(
            m["type"], str(m["held"]), num(m["mean_age_years"], ".1f"), num(m["machine_days_needed"]),
            ", ".join(f"{names.get(k, 'agglo')} {n}" for k, n in list(m["held_by"].items())[:6]),
        )  # fmt: skip
    console.print(machines)
    spending = Table("commune", "staff €", "machines €", "depots €", "contracts €", "purchases €", "€/inhabitant",
                     title="Spending per year (— : not answered)")  # fmt: skip
    for s in d["spending"]:
        spending.add_row(
            s["name"], num(s["staff_eur"]), num(s["machines_eur"]), num(s["depots_eur"]), num(s["contracts_eur"]),
            num(s["purchases_eur"]), num(s["per_inhabitant_eur"], ",.1f"),
        )  # fmt: skip
    console.print(spending)
    prices = Table("item", "unit", "communes", "lowest €", "median €", "highest €", "pays the most",
                   "saving at the lowest price €/yr",
                   title="Purchases: the same item, unit prices side by side")  # fmt: skip
    for p in d["purchases"][:15]:
        prices.add_row(
            p["item"], p["unit"], str(p["communes"]), num(p["min_price_eur"], ",.2f"),
            num(p["median_price_eur"], ",.2f"), num(p["max_price_eur"], ",.2f"), p["pays_most"],
            num(p["saving_at_lowest_eur"]),
        )  # fmt: skip
    console.print(prices)
    if output:
        output.write_text(json.dumps(d, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        console.print(f"wrote {output}")
    if stored:
        console.print(f"stored {stored} communes in the collection diagnostic_communes")
