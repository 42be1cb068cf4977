"""The comparison end to end: arrangements → units → round problems (each solved once) → a year of work →
costs with their ranges → one result per arrangement, against the status quo costed the same way.

Two figures of the status quo are shown: **as declared** (the diagnostic's spending, the work it leaves undone)
and **as modelled** (each commune alone, sized for all the work by the same rules as the other arrangements):
the comparison is between modelled arrangements, so a saving is pooling's, not a different way of counting.
The agglomération's own staff and machines are the same in every arrangement (their work is not in the
inventory) and left out of the totals; its depots and machines serve the groups it joins.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import psycopg

from gis_patrimoine.analysis.diagnostic import diagnostic
from gis_patrimoine.analysis.errors import AnalysisRefused
from gis_patrimoine.analysis.network import Graph, ensure_network, load_graph
from gis_patrimoine.analysis.rounds import Plan
from gis_patrimoine.analysis.selection import select_communes
from gis_patrimoine.arrangements import facility, work
from gis_patrimoine.arrangements.costing import (
    CO2_KG_PER_L,
    KEYS,
    ArrangementCost,
    Work,
    cost_arrangement,
    payments,
)
from gis_patrimoine.arrangements.definition import AGGLO, Arrangement, Unit, units
from gis_patrimoine.arrangements.inputs import AGENTS_PER_CREW, SOLVER_SPREAD_DEFAULT, Inputs, load
from gis_patrimoine.arrangements.propose import estimated_works, propose
from gis_patrimoine.catalogue import Catalogue, Layer, get_catalogue

Progress = Callable[[int, int, str], None]
MAX_SPREAD_STOPS = 1500


@dataclass
class Planned:
    """An arrangement's units with their depots, works and the drive between their depots."""

    arrangement: Arrangement
    units: list[tuple[Unit, tuple[int, ...], list[Work], float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unreachable: set[tuple[str, int]] = field(default_factory=set)  # (layer, asset): left out, each once
    location: dict = field(default_factory=dict)  # group -> the facility location's answer
    incomplete: bool = False  # some work could not be costed (said in the notes): not comparable as is


def _resolve(
    conn: psycopg.Connection,
    graph: Graph,
    arrangement: Arrangement,
    inputs: Inputs,
    communes: list[str],
    services: list[str],
    estimate: dict[str, list[Work]],
) -> tuple[list[tuple[Unit, tuple[int, ...]]], dict, list[str]]:
    """The arrangement's units with their depots; `optimise` solved by facility location."""
    out, location, notes = [], {}, []
    for unit in units(arrangement, communes, services, inputs.owned()):
        if unit.depots != "optimise":
            out.append((unit, unit.depots))
            continue
        # the candidates: the members' own depots serving one of the shared services (a hub keeps its own)
        candidates = sorted(
            d for d, s in inputs.depot_services.items()
            if set(s) & set(unit.services) and inputs.depot_owner.get(d) in unit.members
        )  # fmt: skip
        if not candidates:
            notes.append(f"{unit.name}: its members own no depot serving its services; the nearest are used")
            out.append((unit, ()))
            continue
        trips = facility.travel_minutes(conn, graph, candidates, list(unit.communes))
        mine = {c: [w for w in estimate.get(c, []) if w.service in unit.services] for c in unit.communes}
        a = inputs.central()
        rounds = {c: sum(w.rounds for w in ws) for c, ws in mine.items()}
        demand = {c: sum(w.agent_hours(a) for w in ws) / a["productive_hours"] for c, ws in mine.items()}
        capacity = {
            d: None if inputs.depot_capacity.get(d) is None else inputs.depot_capacity[d] * AGENTS_PER_CREW
            for d in candidates
        }
        hour = inputs.general_skill_cost / a["productive_hours"] * 1.2 + 40 * a["cost_per_km"]
        loc = facility.locate(
            candidates, list(unit.communes), trips, {d: inputs.depot_cost.get(d, 0.0) for d in candidates},
            rounds, hour, arrangement.max_travel_min, capacity, demand,
        )  # fmt: skip
        notes += loc.notes
        location[unit.name] = {
            "kept": loc.kept,
            "assignment": loc.assignment,
            "travel_min": {c: round(t, 1) for c, t in loc.travel_min.items()},
            "max_travel_min": arrangement.max_travel_min,
            "objective_eur": round(loc.objective_eur),
        }
        out.append((unit, tuple(loc.kept)))
    return out, location, notes


def _depot_travel_h(conn: psycopg.Connection, graph: Graph, depots: tuple[int, ...]) -> float:
    """Mean one-way drive between a unit's depots, hours (machines moved between them)."""
    if len(depots) < 2:
        return 0.0
    from gis_patrimoine.analysis.areas import depot_nodes

    nodes = depot_nodes(conn, list(depots))
    m = graph.costs([nodes[d] for d in depots], [nodes[d] for d in depots])
    off = m[~np.eye(len(depots), dtype=bool)]
    off = off[np.isfinite(off)]
    return float(off.mean() / 3600) if len(off) else 0.0


def plan_all(
    conn: psycopg.Connection,
    arrangements: list[Arrangement],
    inputs: Inputs,
    iterations: int = 150,
    progress: Progress | None = None,
    catalogue: Catalogue | None = None,
    communes: list[str] | None = None,
) -> tuple[list[Planned], dict[work.Task, Plan | str]]:
    """Every arrangement's units, their round problems solved once each, and their works."""
    catalogue = catalogue or get_catalogue()
    ensure_network(conn)
    communes = select_communes(conn, communes)
    services = catalogue.codelists["service"].codes
    estimate = estimated_works(conn, catalogue, inputs.crew_size)
    graph = load_graph(conn)  # once: facility location and machine moves read it for every unit
    zone_cache: dict = {}
    layout: list[tuple[Planned, list]] = []
    all_tasks: dict[work.Task, None] = {}
    for arrangement in arrangements:
        resolved, location, notes = _resolve(conn, graph, arrangement, inputs, communes, services, estimate)
        planned = Planned(arrangement, notes=notes, location=location)
        per_unit = []
        for unit, depots in resolved:
            tasks: list[tuple[Layer, list, float, list[work.Task]]] = []
            assigned = planned.location.get(unit.name, {}).get("assignment") if unit.depots == "optimise" else None
            for service in unit.services:
                todo = [
                    (layer, act)
                    for layer, act in work.activities(catalogue, service)
                    if unit.communes and work.has_assets(conn, layer, act, list(unit.communes))
                ]
                if not todo:
                    continue
                try:
                    serving = work.depots_for(conn, depots, service, list(unit.communes), inputs.depot_services)
                except AnalysisRefused as exc:
                    planned.notes.append(f"{unit.name}: {service} NOT COSTED — {exc}")
                    planned.incomplete = True
                    # left out, and counted: each asset once, whatever the activities that apply to it
                    for name, la in {la.name: la for la, _ in todo}.items():
                        acts_of = [a for lx, a in todo if lx.name == name]
                        ids = work.asset_ids(conn, la, acts_of, list(unit.communes))
                        planned.unreachable |= {(name, i) for i in ids}
                    continue
                if extra := [d for d in serving if d not in depots]:  # used, so kept and paid for
                    planned.notes.append(f"{unit.name}: none of its depots serves {service}; served from {extra}")
                    depots = tuple(sorted({*depots, *extra}))
                for layer, acts, passes in _tiers(todo):
                    if assigned and all(d in serving for d in set(assigned.values())):
                        # the facility location's answer: each commune from its depot (capacities held)
                        ts, lost = [], []
                        for d in sorted(set(assigned.values())):
                            mine = [c for c in unit.communes if assigned.get(c) == d]
                            t_d, l_d = work.tasks_for(conn, service, layer, acts, mine, [d], zone_cache)
                            ts, lost = ts + t_d, lost + l_d
                    else:
                        ts, lost = work.tasks_for(conn, service, layer, acts, list(unit.communes), serving, zone_cache)
                    tasks.append((layer, acts, passes, ts))
                    planned.unreachable |= {(layer.name, i) for i in lost}
                    for t in ts:
                        all_tasks[t] = None
            per_unit.append((unit, depots, tasks))
        layout.append((planned, per_unit))
    solved = work.solve(conn, list(all_tasks), iterations, progress, catalogue)
    for planned, per_unit in layout:
        for unit, depots, tasks in per_unit:
            ws: list[Work] = []
            for layer, acts, passes, ts in tasks:
                name = "+".join(a.name for a in acts)
                for t in ts:
                    result = solved[t]
                    if isinstance(result, str):  # its assets are left out, counted and said
                        planned.notes.append(f"{unit.name} {t.service}/{name}: NOT PLANNED — {result}")
                        ids = set(t.assets) if t.assets is not None else None
                        ids = ids if ids is not None else work.asset_ids(conn, layer, acts, list(t.communes))
                        planned.unreachable |= {(layer.name, i) for i in ids}
                        planned.incomplete = True
                        continue
                    planned.unreachable |= {(layer.name, a) for u in result.unreachable for a in u["assets"]}
                    act = acts[-1]  # the most frequent: its skill, crew and season are theirs all
                    ws += work.works(result, act, act.skill or "polyvalent", act.crew or inputs.crew_size, passes, name)
            planned.units.append((unit, depots, ws, _depot_travel_h(conn, graph, depots)))
    return planned_list(layout), solved


def _tiers(todo: list) -> list:
    """(layer, activities done together, passes a year) of a service's activities, layer by layer."""
    layers = {la.name: la for la, _ in todo}
    return [
        (layer, acts, passes)
        for name, layer in layers.items()
        for acts, passes in work.tiers([a for la, a in todo if la.name == name])
    ]


def planned_list(layout: list) -> list[Planned]:
    return [p for p, _ in layout]


def solver_spread(
    conn: psycopg.Connection, solved: dict[work.Task, Plan | str], iterations: int, largest: int = 4
) -> tuple[float, list[dict]]:
    """How much the travel of a plan owes to the search: the largest problems (of at most MAX_SPREAD_STOPS
    stops, to keep it quick) solved again with another seed; the mean relative difference of their travel (at
    least 1 %)."""
    plans = sorted(
        ((t, p) for t, p in solved.items() if isinstance(p, Plan) and p.rounds and len(p.stops) <= MAX_SPREAD_STOPS),
        key=lambda tp: -len(tp[1].stops),
    )[:largest]
    again = work.solve(conn, [t for t, _ in plans], iterations, seed=7)
    rows, diffs = [], []
    for task, plan in plans:
        other = again[task]
        if not isinstance(other, Plan):
            continue
        a = sum(r.travel_s for r in plan.rounds)
        b = sum(r.travel_s for r in other.rounds)
        if a > 0:
            diffs.append(abs(a - b) / a)
            rows.append({"problem": task.label, "stops": len(plan.stops), "travel_h_seed1": round(a / 3600, 2),
                         "travel_h_seed7": round(b / 3600, 2)})  # fmt: skip
    return (max(0.01, statistics.fmean(diffs)) if diffs else SOLVER_SPREAD_DEFAULT), rows


def _alone_by_service(status: ArrangementCost, planned: Planned, a: dict[str, float]) -> dict[tuple[str, str], float]:
    """Each commune's modelled stand-alone cost per service: its alone unit's cost split by agent hours."""
    out: dict[tuple[str, str], float] = {}
    for c, (unit, _, works, _) in zip(status.units, planned.units, strict=True):
        hours: dict[str, float] = {}
        for w in works:
            hours[w.service] = hours.get(w.service, 0.0) + w.agent_hours(a)
        total = sum(hours.values())
        for m in unit.members:
            for s in unit.services:
                out[(m, s)] = c.total_eur * (hours.get(s, 0.0) / total if total else 1 / len(unit.services))
    return out


def cost(planned: Planned, inputs: Inputs, a: dict[str, float], travel: float = 1.0) -> ArrangementCost:
    b = dict(a, travel_factor=a["travel_factor"] * travel)
    return cost_arrangement(planned.units, inputs, b)


def compare(
    conn: psycopg.Connection,
    arrangements: list[Arrangement] | None = None,
    iterations: int = 150,
    draws: int = 200,
    progress: Progress | None = None,
    communes: list[str] | None = None,
) -> dict:
    """Cost every arrangement (the proposed ones by default) and put them side by side with their ranges;
    `communes`: compare these communes only (all by default)."""
    catalogue = get_catalogue()
    inputs = load(conn, catalogue)
    communes = sorted(select_communes(conn, communes))
    arrangements = arrangements or propose(conn, inputs, catalogue, communes)
    if not any(not a.groups for a in arrangements):
        arrangements = [Arrangement(name="status_quo", title="Status quo: each commune alone"), *arrangements]
    planned, solved = plan_all(conn, arrangements, inputs, iterations, progress, catalogue, communes)
    if progress:
        progress(0, 1, "solver spread: the largest problems again with another seed")
    spread, spread_rows = solver_spread(conn, solved, iterations)
    base_index = next(k for k, a in enumerate(arrangements) if not a.groups)
    central = inputs.central()
    costs = [cost(p, inputs, central) for p in planned]
    alone = _alone_by_service(costs[base_index], planned[base_index], central)
    # ranges: every uncertain assumption drawn in its range, and each arrangement's travel within the solver spread
    rng = np.random.default_rng(20261201)
    totals = np.zeros((draws, len(planned)))
    one_off = np.zeros((draws, len(planned)))
    for k in range(draws):
        a = {n: float(rng.uniform(x.low, x.high)) for n, x in inputs.assumptions.items()}
        for j, p in enumerate(planned):
            drawn = cost(p, inputs, a, float(rng.uniform(1 - spread, 1 + spread)))
            totals[k, j], one_off[k, j] = drawn.total_eur, drawn.one_off_eur
    savings = totals[:, [base_index]] - totals
    best = np.argmin(totals, axis=1)
    declared = _declared(conn, communes)
    out = []
    for j, (p, c) in enumerate(zip(planned, costs, strict=True)):
        out.append(_result(p, c, inputs, central, alone, totals[:, j], savings[:, j], float(np.mean(best == j)),
                           costs[base_index], communes))  # fmt: skip
        out[-1]["one_off_range_eur"] = _pct(one_off[:, j])
    ranking = sorted(range(len(out)), key=lambda j: costs[j].total_eur)
    order_same = float(np.mean([list(np.argsort(row)) == ranking for row in totals]))
    return {
        "arrangements": out,
        "communes": communes,
        "baseline": arrangements[base_index].name,
        "declared_status_quo": declared,
        "ranking": [arrangements[j].name for j in ranking],
        "robustness": {
            "draws": draws,
            "best": arrangements[ranking[0]].name,
            "best_share": round(float(np.mean(best == ranking[0])), 3),
            "same_order_share": round(order_same, 3),
            "robust": bool(np.mean(best == ranking[0]) >= 0.9),
        },
        "solver": {
            "iterations": iterations,
            "problems": len(solved),
            "spread": round(spread, 4),
            "spread_checked": spread_rows,
        },
        "assumptions": {
            n: {"value": x.value, "low": x.low, "high": x.high, "unit": x.unit, "source": x.source}
            for n, x in inputs.assumptions.items()
        },
        "inputs": {
            "post_cost_eur": {k: round(v) for k, v in inputs.post_cost.items()},
            "contract_eur_per_agent_hour": {k: round(v, 1) for k, v in inputs.contract_rate.items()},
            "machine_eur_per_year": {k: round(m.annual_eur) for k, m in inputs.machines.items()},
            "depot_owner": {str(k): v for k, v in inputs.depot_owner.items()},
            "depot_eur_per_year": {str(k): round(v) for k, v in inputs.depot_cost.items()},
        },
    }


def _pct(values: np.ndarray) -> list[float]:
    return [round(float(np.percentile(values, 10)), 0), round(float(np.percentile(values, 90)), 0)]


def _result(
    p: Planned,
    c: ArrangementCost,
    inputs: Inputs,
    a: dict[str, float],
    alone: dict[tuple[str, str], float],
    totals: np.ndarray,
    savings: np.ndarray,
    best_share: float,
    base: ArrangementCost,
    communes: list[str],
) -> dict:
    held: dict[str, int] = {}  # the compared communes' machines (the agglomération's are left out, as its staff)
    for (owner, t), n in inputs.held.items():
        if owner in communes:
            held[t] = held.get(t, 0) + n
    needed = c.machines()
    saving = base.total_eur - c.total_eur
    communes = payments(c.units, base.units, alone, inputs)
    fuel = sum(u.fuel_l for u in c.units)
    work_h = sum(sum(u.hours.values()) for u in c.units)
    contracted_h = sum(sum(u.contracted_h.values()) for u in c.units)
    return {
        "name": p.arrangement.name,
        "title": p.arrangement.title,
        "description": p.arrangement.description,
        "groups": [
            {
                "name": u.unit.name,
                "members": [inputs.names.get(m, m) for m in u.unit.members],
                "services": list(u.unit.services),
                "depots": list(u.depots),
                "closed": list(u.closed),
                "posts": u.posts,
                "seasonal_months": u.seasonal_months,
                "contracted_h": {k: round(v) for k, v in u.contracted_h.items()},
                "machines": u.machines,
                "eur": {k: round(v) for k, v in u.eur.items()},
                "total_eur": round(u.total_eur),
                "one_off_eur": round(u.one_off_eur),
                "notes": u.notes,
            }
            for u in c.units
            if u.unit.group
        ],
        "total_eur": round(c.total_eur),
        "range_eur": _pct(totals),
        "saving_eur": round(saving),
        "saving_range_eur": _pct(savings),
        "saving_pct": round(100 * saving / base.total_eur, 1) if base.total_eur else 0.0,
        "saving_within_spread": bool(np.percentile(savings, 10) <= 0 <= np.percentile(savings, 90)) and abs(saving) > 0,
        "best_share": round(best_share, 3),
        "activities": sorted({f"{w.service}/{w.activity}" for _, _, ws, _ in p.units for w in ws}),
        "by_item_eur": {k: round(v) for k, v in c.by_item().items()},
        "one_off_eur": round(c.one_off_eur),
        "payback_years": round(c.one_off_eur / saving, 1) if saving > 0 else None,
        "posts": c.posts(),
        "posts_total": sum(c.posts().values()),
        "seasonal_months": sum(sum(u.seasonal_months.values()) for u in c.units),
        "work_h": round(work_h),
        "contracted_share": round(contracted_h / work_h, 3) if work_h else 0.0,
        "machines_needed": needed,
        "machines_held": held,
        "machines_freed": {t: held.get(t, 0) - needed.get(t, 0) for t in sorted(set(held) | set(needed))},
        "depots_kept": list(c.kept),
        "depots_closed": list(c.closed),
        "km": round(sum(u.km for u in c.units)),
        "fuel_l": round(fuel),
        "co2_t": round(fuel * CO2_KG_PER_L / 1000, 1),
        "unreachable_assets": len(p.unreachable),
        "incomplete": p.incomplete,
        "location": p.location,
        "communes": communes,
        "losers_by_key": {k: [x["name"] for x in communes if k in x["pays_more_than_alone"]] for k in KEYS},
        "notes": p.notes + [n for u in c.units for n in u.notes if u.unit.group],
    }


def _declared(conn: psycopg.Connection, communes: list[str]) -> dict:
    """The status quo as the diagnostic declares it: spending (without the agglomération's own staff and
    machines, as in the modelled arrangements) and the work its staff leaves undone."""
    d = diagnostic(conn, communes)
    known = [s for s in d["spending"] if s["commune"] != AGGLO]
    total = sum((s["total_eur"] or 0) for s in known)
    agglo = next((s for s in d["spending"] if s["commune"] == AGGLO), None)
    undone = sum(-f["balance_h"] for f in d["figures"] if f["balance_h"] is not None and f["balance_h"] < 0)
    needed = sum(f["workload_h"] for f in d["figures"])
    return {
        "total_eur": round(total + ((agglo or {}).get("depots_eur") or 0)),
        "incomplete": [s["name"] for s in known if not s["complete"]],
        "undone_h": round(undone),
        "work_needed_h": round(needed),
        "work_done_share": round(1 - undone / needed, 3) if needed else None,
        "note": "the diagnostic's spending of the communes (staff, machines, depots, contracts, purchases) and the "
        "agglomération's depots; undone: hours of work above the capacity of the communes' staff",
    }
