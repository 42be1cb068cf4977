"""Each unit's rounds, activity by activity, turned into a year of work per commune.

A unit with several depots has its assets split into network catchments (each asset to the nearest of the
unit's depots by road) and each zone planned from its depot. Round problems are the same whichever arrangement
asks for them (a commune alone is alone in most arrangements), so they are solved once: `Task` is the key.
Every activity of every service is planned — not only the first — and a pass is turned into a year by the
activity's visits; each round's travel and its count (for the depot time of a shift) are shared among the
communes it serves by their time on site.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from gis_patrimoine.analysis.areas import asset_junctions, catchments
from gis_patrimoine.analysis.errors import AnalysisRefused
from gis_patrimoine.analysis.params import load as load_params
from gis_patrimoine.analysis.rounds import Plan, RoundRequest, plan_rounds, resolve_depots
from gis_patrimoine.analysis.selection import asset_query
from gis_patrimoine.arrangements.costing import Work
from gis_patrimoine.catalogue import Activity, Catalogue, Layer, get_catalogue

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Task:
    """One round problem: an activity over some communes' assets (a zone's share) from one depot."""

    service: str
    activity: str
    communes: tuple[str, ...]
    depot: int
    assets: tuple[int, ...] | None = None  # None: every asset of the activity in the communes
    together: tuple[str, ...] = ()  # other activities done in the same pass (combined rounds)

    @property
    def label(self) -> str:
        name = "+".join((self.activity, *self.together))
        return f"{self.service}/{name} {len(self.communes)} commune(s) from depot {self.depot}"


def activities(catalogue: Catalogue, service: str) -> list[tuple[Layer, Activity]]:
    return [
        (layer, act)
        for layer in catalogue.asset_layers
        if layer.maintenance and layer.maintenance.service == service
        for act in layer.maintenance.activities
    ]


def has_assets(conn: psycopg.Connection, layer: Layer, act: Activity, communes: list[str]) -> set[str]:
    """The communes with at least one asset of the activity."""
    query = sql.SQL("SELECT DISTINCT commune_insee FROM ({}) a").format(asset_query(layer, act, communes))
    return {r[0] for r in conn.execute(query)}


def asset_ids(conn: psycopg.Connection, layer: Layer, acts: list[Activity], communes: list[str]) -> set[int]:
    """The assets of activities done together in communes (each once)."""
    ids: set[int] = set()
    for a in acts:
        ids.update(r[0] for r in conn.execute(sql.SQL("SELECT id FROM ({}) a").format(asset_query(layer, a, communes))))
    return ids


def tiers(acts: list[Activity]) -> list[tuple[list[Activity], float]]:
    """Combined rounds: activities of one layer worked from points by the same skill, crew, machine and season
    share their passes — the least frequent's passes do all of them, the next one's extra passes the rest, and
    so on. Returns (activities done together, passes a year) tiers; others are each their own tier."""
    groups: dict[tuple, list[Activity]] = {}
    for a in acts:
        key = (a.routing, a.equipment, a.skill, a.crew, a.season) if a.routing == "node" else (id(a),)
        groups.setdefault(key, []).append(a)
    out = []
    for members in groups.values():
        members = sorted(members, key=lambda a: (a.visits, a.name))
        done = 0.0
        for k, a in enumerate(members):
            if a.visits - done > 1e-9:
                out.append((members[k:], a.visits - done))
                done = a.visits
    return out


def tasks_for(
    conn: psycopg.Connection,
    service: str,
    layer: Layer,
    acts: list[Activity],
    communes: list[str],
    depots: list[int],
    zone_cache: dict,
) -> tuple[list[Task], list[int]]:
    """The round problems of activities done together for communes served from depots, and the assets no depot
    reaches."""
    act = acts[0]
    together = tuple(a.name for a in acts[1:])
    communes = sorted(set().union(*(has_assets(conn, layer, a, communes) for a in acts)))
    if not communes:
        return [], []
    if len(depots) == 1:
        return [Task(service, act.name, tuple(communes), depots[0], None, together)], []
    key = (tuple(depots),)
    if key not in zone_cache:
        zone_cache[key] = catchments(conn, depots)
    nearest = zone_cache[key]
    zones: dict[int, set[int]] = {}
    lost: set[int] = set()
    for a in acts:
        for aid, _, source, target, _ in asset_junctions(conn, layer, a, communes):
            options = [nearest[n] for n in (source, target) if n in nearest]
            if options:
                zones.setdefault(min(options, key=lambda o: o[1])[0], set()).add(aid)
            else:
                lost.add(aid)
    tasks = [Task(service, act.name, tuple(communes), d, tuple(sorted(a)), together) for d, a in sorted(zones.items())]
    return tasks, sorted(lost)


def depots_for(
    conn: psycopg.Connection, unit_depots: tuple[int, ...], service: str, communes: list[str], serving: dict
) -> list[int]:
    """The unit's depots that serve the service; else the nearest depot serving it (said in the notes)."""
    mine = [d for d in unit_depots if service in serving.get(d, [])]
    if mine:
        return mine
    return [d.id for d in resolve_depots(conn, service, communes, [], None, load_params(conn))][:1]


def solve(
    conn: psycopg.Connection,
    tasks: list[Task],
    iterations: int,
    progress: Progress | None = None,
    catalogue: Catalogue | None = None,
    seed: int | None = None,
) -> dict[Task, Plan | str]:
    """Every round problem, two at a time (each its own connection), the biggest first; a refusal is kept as
    its message (the assets it concerns are then reported, not silently dropped)."""
    catalogue = catalogue or get_catalogue()
    url = make_conninfo(conn.info.dsn, password=conn.info.password) if conn.info.password else conn.info.dsn
    order = sorted(tasks, key=lambda t: -(len(t.assets) if t.assets is not None else 10**6 * len(t.communes)))
    done: dict[Task, Plan | str] = {}
    count = 0

    def one(task: Task) -> tuple[Task, Plan | str]:
        request = RoundRequest(
            task.service, task.activity, list(task.communes), [task.depot], workers=1, iterations=iterations,
            assets=list(task.assets) if task.assets is not None else None, together=list(task.together),
        )  # fmt: skip
        if seed is not None:
            request.seed = seed
        with psycopg.connect(url) as own:
            try:
                return task, plan_rounds(own, request, catalogue)
            except AnalysisRefused as exc:
                return task, str(exc)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for task, result in pool.map(one, order):
            done[task] = result
            count += 1
            if progress:
                progress(count, len(order), task.label)
    return done


def works(plan: Plan, act: Activity, skill: str, crew: int, visits: float, name: str) -> list[Work]:
    """A plan's year (`visits` passes) per commune: on-site and travel crew hours, rounds and km shared by
    on-site time; `name` the activities done in the pass."""
    per: dict[str, list[float]] = {}
    for r in plan.rounds:
        site: dict[str, float] = {}
        for i in r.stops:
            site[plan.stops[i].commune] = site.get(plan.stops[i].commune, 0.0) + plan.stops[i].service_s
        total = sum(site.values()) or 1.0
        for commune, s in site.items():
            f = s / total
            acc = per.setdefault(commune, [0.0, 0.0, 0.0, 0.0])
            acc[0] += s / 3600 * visits
            acc[1] += r.travel_s / 3600 * visits * f
            acc[2] += visits * f
            acc[3] += (r.travel_m + r.work_m) / 1000 * visits * f
    depot = plan.depots[0].id if plan.depots else None
    return [
        Work(commune, plan.request.service, name, skill, act.equipment, crew, act.season, v[0], v[1], v[2], v[3],
             depot)
        for commune, v in sorted(per.items())
    ]  # fmt: skip
