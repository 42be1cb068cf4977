"""Maintenance rounds: one pass of an activity over its assets, split into crew shifts from the depots.

Point assets (lights, buildings, green spaces) are visits: the assets of one road segment within
`stop_spread_m` of each other make one stop (a crew parks once), placed on the segment where the first is.
Road work is arc routing: each required piece of road is served once, in a direction its one-way rule allows —
one client per allowed direction, in a group of which the solver serves exactly one. Work off the driven
network (a footpath to mow, a pedestrian street to sweep, lights along a path) is a stop at the nearest driven
place, and the walk there and back is counted in its time on site. Travel times come from the network
(`access`), the plan from PyVRP (`vrp`), kilometres and geometry from the legs actually chosen.

Real networks are imperfect: what cannot be reached from the depots and back (a part of the network the depots
are not on, a one-way trap) is listed with its reason in the plan, and the rest is planned; `strict` refuses
the whole plan instead.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg import sql

from gis_patrimoine.analysis import access, vrp
from gis_patrimoine.analysis.access import Edge, Place, Unreachable
from gis_patrimoine.analysis.errors import AnalysisRefused
from gis_patrimoine.analysis.network import Graph, load_graph
from gis_patrimoine.analysis.params import Parameters
from gis_patrimoine.analysis.params import load as load_params
from gis_patrimoine.analysis.selection import (
    NothingToDo,
    asset_query,
    combine,
    pick_activity,
    select_communes,
)
from gis_patrimoine.catalogue import Activity, Catalogue, Layer, get_catalogue

TICKS = 10  # the solver counts time in tenths of a second, rounded up: its shifts hold in exact seconds too
UNREACHABLE = 10**9  # stands for "no road" in the solver's matrix; a plan using it is refused


class DepotProblem(AnalysisRefused):
    """A depot unknown, not serving the service, or off the road network; the message says what to change."""


@dataclass
class RoundRequest:
    service: str
    activity: str | None = None
    communes: list[str] = field(default_factory=list)  # INSEE codes; empty: every commune
    depots: list[int] = field(default_factory=list)  # empty: the depots serving the service in the communes
    crews: int | None = None  # crews per depot; default: the depot's own `crews`
    days: int | None = None  # working days to do the pass in; default: as many as it takes
    label: str | None = None
    seconds: float | None = None  # solver time; default: the territory's solver_seconds
    workers: int | None = None  # parallel searches; default: one per core
    stop_spread_m: float | None = None  # default: the territory's
    assets: list[int] | None = None  # only these assets (ids in the activity's layer): a zone's share
    seconds_per_stop: float | None = None  # scale the solver time to the problem, `seconds` at most
    iterations: int | None = None  # stop after so many iterations instead: the same plan on any machine
    strict: bool = False  # refuse the plan if any asset cannot be reached, instead of listing it
    seed: int = 1  # the solver's first seed: another seed measures how much a plan owes to the search
    together: list[str] = field(default_factory=list)  # other activities of the layer done in the same pass


@dataclass
class Stop:
    place: Place
    layer: str
    assets: list[int]
    commune: str
    service_s: float
    work_m: float
    label: str
    walk_s: float = 0.0  # part of service_s: walking from the vehicle to work off the driven network and back


@dataclass
class Depot:
    id: int
    name: str
    crews: int
    place: Place
    distance_m: float


@dataclass
class Round:
    number: int
    depot: Depot
    day: int
    crew: int
    stops: list[int]  # indexes into Plan.stops
    arrivals_s: list[float]
    travel_s: float
    service_s: float
    travel_m: float
    work_m: float
    lines: list[list[tuple[float, float]]]


@dataclass
class Plan:
    request: RoundRequest
    params: Parameters
    layer: Layer
    activity: Activity
    communes: list[str]
    stops: list[Stop]
    depots: list[Depot]
    rounds: list[Round]
    warnings: list[str]
    solver: dict
    unreachable: list[dict] = field(default_factory=list)  # {layer, assets, label, commune, reason, part}
    selected_assets: int = 0
    id: int | None = None

    @property
    def days(self) -> int:
        return max((r.day for r in self.rounds), default=0)

    def _per_year(self, hours: float) -> dict:
        """One activity's pass times its frequency; a combined pass (activities of different frequencies riding
        together, in the arrangements) has no single frequency, so no yearly figure here."""
        if not isinstance(self.activity, Activity):
            return {}
        return {
            "passes_per_year": self.activity.visits,
            "every_years": self.activity.every_years,
            "km_per_year": round(sum(r.travel_m + r.work_m for r in self.rounds) / 1000 * self.activity.visits, 1),
            "hours_per_year": round(hours * self.activity.visits, 1),
        }

    def summary(self) -> dict:
        travel_h = sum(r.travel_s for r in self.rounds) / 3600
        site_h = sum(r.service_s for r in self.rounds) / 3600
        left = {a for u in self.unreachable for a in u["assets"]}
        return {
            "rounds": len(self.rounds),
            "days": self.days,
            "stops": sum(len(r.stops) for r in self.rounds),  # arcs: the direction served, not both candidates
            # an asset is planned when all its stops are (a road cut into pieces is one asset)
            "assets": len({a for r in self.rounds for i in r.stops for a in self.stops[i].assets} - left),
            "assets_selected": self.selected_assets,
            "assets_unreachable": len(left),
            "unreachable": self.unreachable[:200],
            "hours_walk": round(sum(self.stops[i].walk_s for r in self.rounds for i in r.stops) / 3600, 3),
            "km_travel": round(sum(r.travel_m for r in self.rounds) / 1000, 3),
            "km_work": round(sum(r.work_m for r in self.rounds) / 1000, 3),
            "hours_travel": round(travel_h, 3),
            "hours_on_site": round(site_h, 3),
            "longest_round_h": round(max(((r.travel_s + r.service_s) / 3600 for r in self.rounds), default=0), 3),
            # a plan is one pass; the activity's frequency makes the year (a bin emptied 130 times, a tree pruned
            # every 4 years: a quarter of a pass a year on average)
            **self._per_year(travel_h + site_h),
            "depots": [{"id": d.id, "name": d.name, "crews": d.crews} for d in self.depots],
            "warnings": self.warnings,
            "solver": self.solver,
        }


def _road_names(conn: psycopg.Connection, ids: set[int | None]) -> dict[int | None, str]:
    known = [i for i in ids if i is not None]
    rows = conn.execute("SELECT id, coalesce(name, road_class) FROM patrimoine.road WHERE id = ANY(%s)", (known,))
    return {**dict(rows.fetchall()), None: "connector"}


def walk_seconds(metres: float, params: Parameters) -> float:
    """Walking `metres` (straight line) at the territory's pace, with its detour factor."""
    return metres * params.walk_detour / (params.walk_speed_kmh / 3.6)


def point_stops(
    conn: psycopg.Connection,
    layer: Layer,
    activity: Activity,
    communes: list[str],
    params: Parameters,
    assets: list[int] | None = None,
) -> tuple[list[Stop], list[str]]:
    """Assets grouped into stops along their nearest driven road segment; far assets are kept, with a warning.
    Assets nearer a path or square than any driven road are walked to: out to the farthest of the stop and
    back (`walk_detour` times the straight line, at `walk_speed_kmh`)."""
    query = asset_query(layer, activity, communes, assets)
    snapped = access.snap(conn, query, carry=("commune_insee", "units"))
    walk_m = access.off_network(conn, query)
    info = {r[0]: (r[4], float(r[5])) for r in snapped}
    edges = access.load_edges(conn, {r[1] for r in snapped})
    names = _road_names(conn, {e.road_id for e in edges.values()})
    far = [(r[0], r[3]) for r in snapped if r[3] > params.snap_warn_m]
    warnings = []
    if far:
        listed = ", ".join(f"{aid} ({dist:.0f} m)" for aid, dist in sorted(far, key=lambda x: -x[1])[:10])
        warnings.append(
            f"{len(far)} {layer.collection} are farther than {params.snap_warn_m:g} m from any road and are served "
            f"from the nearest one: {listed}{' …' if len(far) > 10 else ''}; check their position or import the "
            "roads that lead to them"
        )
    by_edge: dict[int, list[tuple[float, int]]] = {}
    for aid, edge, frac, *_ in snapped:
        by_edge.setdefault(edge, []).append((frac, aid))
    stops = []
    minutes = activity.minutes * 60  # seconds per unit
    for edge_id in sorted(by_edge):
        e = edges[edge_id]
        group: list[tuple[float, int]] = []
        for frac, aid in [*sorted(by_edge[edge_id]), (math.inf, -1)]:
            # a stop serves one commune: its time is that commune's (assets across a boundary make two stops)
            if group and (
                aid == -1
                or (frac - group[0][0]) * e.length > params.stop_spread_m
                or info[aid][0] != info[group[0][1]][0]
            ):
                ids = [a for _, a in group]
                walk = 2 * walk_seconds(max(walk_m.get(a, 0.0) for a in ids), params)
                stops.append(
                    Stop(
                        place=Place(edge_id, group[0][0]),
                        layer=layer.collection,
                        assets=ids,
                        commune=info[ids[0]][0],
                        service_s=sum(info[a][1] for a in ids) * minutes + walk,
                        work_m=0.0,
                        label=f"{names.get(e.road_id, 'road')} — {len(ids)} × {layer.title.en.lower()}"
                        + (" (on foot)" if walk else ""),
                        walk_s=walk,
                    )
                )
                group = []
            if aid != -1:
                group.append((frac, aid))
    return stops, warnings


def arc_stops(
    conn: psycopg.Connection,
    layer: Layer,
    activity: Activity,
    communes: list[str],
    params: Parameters,
    assets: list[int] | None = None,
) -> tuple[list[Stop], list[tuple[int, ...]]]:
    """One stop per direction each driven piece of a required road may be worked in (groups pair the two
    directions); a road not driven (a footpath, a pedestrian street) is one stop at the driven place nearest
    to it, worked on foot: the walk there, along it and back is counted. Each piece carries its share of the
    road's work, so the pieces of a road add up to the road."""
    query = asset_query(layer, activity, communes, assets)
    rows = conn.execute(sql.SQL("SELECT id, commune_insee, units FROM ({}) a ORDER BY id").format(query)).fetchall()
    pieces = access.road_edges(conn, [r[0] for r in rows])
    names = _road_names(conn, {r[0] for r in rows})
    on_foot = [r[0] for r in rows if not any(e.drivable for e in pieces.get(r[0], []))]
    access_points = {}
    if on_foot:
        walked = sql.SQL("SELECT id, geom FROM patrimoine.road WHERE id = ANY({})").format(sql.Literal(on_foot))
        access_points = {r[0]: r[1:4] for r in access.snap(conn, walked)}
    stops: list[Stop] = []
    groups: list[tuple[int, ...]] = []
    for rid, commune, units in rows:
        work_s = float(units) * activity.minutes * 60
        road_m = sum(e.length for e in pieces.get(rid, []))
        if rid in access_points:
            edge, frac, dist = access_points[rid]
            walk = walk_seconds(2 * dist, params) + road_m / (params.walk_speed_kmh / 3.6)
            stops.append(
                Stop(
                    place=Place(edge, frac),
                    layer=layer.collection,
                    assets=[rid],
                    commune=commune,
                    service_s=work_s + walk,
                    work_m=road_m,
                    label=f"{names.get(rid, 'road')} ({road_m:.0f} m, on foot)",
                    walk_s=walk,
                )
            )
            continue
        for e in pieces.get(rid, []):
            share = e.length / road_m if road_m else 1.0
            members = []
            for forward, allowed in ((True, e.cost >= 0), (False, e.reverse_cost >= 0)):
                if allowed:
                    members.append(len(stops))
                    stops.append(
                        Stop(
                            place=Place(e.id, arc=True, forward=forward),
                            layer=layer.collection,
                            assets=[rid],
                            commune=commune,
                            service_s=work_s * share,
                            work_m=e.length,
                            label=f"{names.get(rid, 'road')} ({e.length:.0f} m)",
                        )
                    )
            if len(members) > 1:
                groups.append(tuple(members))
    return stops, groups


def resolve_depots(
    conn: psycopg.Connection, service: str, communes: list[str], ids: list[int], crews: int | None, params: Parameters
) -> list[Depot]:
    """The depots named, else those serving the service in the communes, else the nearest one serving it."""
    if ids:
        rows = conn.execute(
            "SELECT id, name, crews, %s = ANY(services) FROM patrimoine.depot WHERE id = ANY(%s) ORDER BY id",
            (service, ids),
        ).fetchall()
        if unknown := set(ids) - {r[0] for r in rows}:
            raise DepotProblem(f"no depot with id {sorted(unknown)}; list them at /collections/depots/items")
        if not_serving := [r[1] for r in rows if not r[3]]:
            raise DepotProblem(
                f"depot {', '.join(not_serving)} does not serve {service}; "
                f"add {service} to its services or pick another"
            )
    else:
        rows = conn.execute(
            "SELECT id, name, crews, true FROM patrimoine.depot WHERE %s = ANY(services) AND commune_insee = ANY(%s) "
            "ORDER BY id",
            (service, communes),
        ).fetchall()
        if not rows:
            rows = conn.execute(
                "SELECT d.id, d.name, d.crews, true FROM patrimoine.depot d, "
                "(SELECT ST_Union(geom) g FROM patrimoine.commune WHERE insee = ANY(%s)) c "
                "WHERE %s = ANY(d.services) ORDER BY d.geom <-> c.g LIMIT 1",
                (communes, service),
            ).fetchall()
        if not rows:
            raise DepotProblem(f"no depot serves {service}; import depots or add {service} to a depot's services")
    ids = [r[0] for r in rows]
    chosen = sql.SQL("SELECT id, geom FROM patrimoine.depot WHERE id = ANY({})").format(sql.Literal(ids))
    snapped = {r[0]: r[1:] for r in access.snap(conn, chosen)}
    depots = []
    for did, name, own_crews, _ in rows:
        edge, frac, dist = snapped[did]
        if dist > params.snap_warn_m:
            raise DepotProblem(
                f"depot {name} (id {did}) is {dist:.0f} m from the nearest road (limit {params.snap_warn_m:g} m): "
                "move it next to its access road, or import the roads around it"
            )
        n = crews if crews is not None else own_crews
        if n < 1:
            raise DepotProblem(f"depot {name} (id {did}) has no crew; set its crews or pass crews")
        depots.append(Depot(did, name, n, Place(edge, frac), dist))
    return depots


def reachable(travel: np.ndarray, nd: int) -> np.ndarray:
    """Which stops a crew can reach from a depot and come back from (an arc: in the direction of that stop)."""
    from_depot = np.isfinite(travel[:nd, nd:]).any(axis=0)
    to_depot = np.isfinite(travel[nd:, :nd]).any(axis=1)
    return from_depot & to_depot


def why_unreachable(
    graph: Graph, edge: Edge, depots: list[Depot], depot_edges: dict[int, Edge], travel_ok: tuple
) -> tuple[str, int]:
    """The reason a stop cannot be reached, in words a technician acts on, and the part of the network it is on."""
    part = graph.part(edge.source)
    depot_parts = {graph.part(depot_edges[d.place.edge].source) for d in depots}
    if part not in depot_parts:
        info = next((p for p in graph.parts if p.number == part), None)
        where = f"{info.km:.1f} km in {', '.join(info.communes[:3])}" if info else "no driven road"
        return (
            f"on part {part} of the network ({where}), which no road links to the depots' part "
            f"{', '.join(map(str, sorted(depot_parts)))}: connect it (see the network report's near misses) or "
            "serve it from a depot on that part",
            part,
        )
    reach, back = travel_ok
    if not reach:
        return "one-way streets lead away from it and none leads to it: check their directions", part
    if not back:
        return "one-way streets lead to it and none leads back: check their directions", part
    return "the other direction of this road cannot be driven back", part


def _drop_unreachable(
    graph: Graph,
    travel: np.ndarray,
    depots: list[Depot],
    stops: list[Stop],
    groups: list[tuple[int, ...]],
    edges: dict[int, Edge],
    selected: list[int],
    layer: Layer,
    strict: bool,
) -> tuple[list[Stop], list[tuple[int, ...]], np.ndarray, list[dict]]:
    """The stops a crew can reach and come back from, their groups and travel; the others listed with their
    reason (`strict`: refused). An arc whose one direction is reachable keeps that direction only."""
    nd = len(depots)
    ok = reachable(travel, nd)
    in_group = {m: g for g in groups for m in g}
    lost = [i for i in range(len(stops)) if not ok[i] and not any(ok[j] for j in in_group.get(i, ()))]
    listed: list[dict] = []
    depot_edges = {d.place.edge: edges[d.place.edge] for d in depots}
    by_key: dict[tuple, dict] = {}
    for i in lost:  # one entry per asset and reason (a road's pieces, both directions of a piece, together)
        s = stops[i]
        flags = (bool(np.isfinite(travel[:nd, nd + i]).any()), bool(np.isfinite(travel[nd + i, :nd]).any()))
        reason, part = why_unreachable(graph, edges[s.place.edge], depots, depot_edges, flags)
        key = (s.layer, tuple(s.assets), reason)
        if key in by_key:
            by_key[key]["places"].add(s.place.edge)
            continue
        by_key[key] = {
            "layer": s.layer,
            "assets": s.assets,
            "label": s.label.split(" (")[0] if s.place.arc else s.label,
            "commune": s.commune,
            "reason": reason,
            "part": part,
            "places": {s.place.edge},
        }
    for entry in by_key.values():
        entry["segments"] = len(entry.pop("places"))
        listed.append(entry)
    in_stops = {a for s in stops for a in s.assets}
    missing = [a for a in selected if a not in in_stops]
    if missing:
        listed.append(
            {
                "layer": layer.collection,
                "assets": missing,
                "label": f"{len(missing)} {layer.collection}",
                "commune": None,
                "reason": "not on the road network (no driven or walked road piece)",
                "part": 0,
                "segments": 0,
            }
        )
    if listed and strict:
        shown = "; ".join(f"{u['label']}: {u['layer']} {u['assets'][:5]} — {u['reason']}" for u in listed[:5])
        raise Unreachable(
            f"{len(listed)} stop(s) cannot be reached from the depot and back by road: {shown}"
            f"{' …' if len(listed) > 5 else ''}"
        )
    keep = [i for i in range(len(stops)) if ok[i]]
    new_index = {old: new for new, old in enumerate(keep)}
    kept_groups = [tuple(new_index[m] for m in g if m in new_index) for g in groups]
    rows = list(range(nd)) + [nd + i for i in keep]
    return (
        [stops[i] for i in keep],
        [g for g in kept_groups if len(g) > 1],
        travel[np.ix_(rows, rows)],
        listed,
    )


def _duration(seconds: float) -> str:
    """A duration as a planner reads it: 40 s, 12 min, 3 h 05."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d}"


def split_long_stops(
    stops: list[Stop], groups: list[tuple[int, ...]], travel: np.ndarray, nd: int, shift_s: float
) -> tuple[list[Stop], list[tuple[int, ...]], np.ndarray]:
    """A stop whose work and round trip exceed a shift (a large building's upkeep, the verges of an 8 km road)
    becomes as many visits of the same place as it takes, each a share of the work, done on successive rounds:
    crews come back the next day. A road piece's two directions (a group: one of them is worked) are split
    alike, each visit keeping the choice of direction."""
    in_group = {m for g in groups for m in g}
    units = [*groups, *((i,) for i in range(len(stops)) if i not in in_group)]
    parts_of = [1] * len(stops)
    for unit in units:
        parts = 1
        for i in unit:
            trip = float(np.min(travel[:nd, nd + i] + travel[nd + i, :nd])) if nd else 0.0
            room = shift_s - trip
            if np.isfinite(trip) and room > 0 and stops[i].service_s > room:
                parts = max(parts, math.ceil(stops[i].service_s / room))
        for i in unit:
            parts_of[i] = parts
    if max(parts_of, default=1) == 1:
        return stops, groups, travel
    out: list[Stop] = []
    index: dict[tuple[int, int], int] = {}
    copies: list[int] = []
    for i, stop in enumerate(stops):
        parts = parts_of[i]
        for k in range(parts):
            index[(i, k)] = len(out)
            copies.append(i)
            out.append(
                stop
                if parts == 1
                else dataclasses.replace(
                    stop,
                    service_s=stop.service_s / parts,
                    work_m=stop.work_m / parts,
                    walk_s=stop.walk_s / parts,
                    label=f"{stop.label} (visit {k + 1}/{parts})",
                )
            )
    new_groups = [tuple(index[(m, k)] for m in g) for g in groups for k in range(parts_of[g[0]])]
    rows = list(range(nd)) + [nd + old for old in copies]
    return out, new_groups, travel[np.ix_(rows, rows)]


def plan_rounds(conn: psycopg.Connection, request: RoundRequest, catalogue: Catalogue | None = None) -> Plan:
    """Compute (not store) the rounds of one pass of the activity over the selected assets."""
    catalogue = catalogue or get_catalogue()
    params = load_params(conn, solver_seconds=request.seconds, stop_spread_m=request.stop_spread_m)
    layer, activity = pick_activity(catalogue, request.service, request.activity)
    if request.together:
        activity = combine(catalogue, request.service, activity, request.together)
    communes = select_communes(conn, request.communes)
    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    access.ensure_network(conn)
    lap("network")
    groups: list[tuple[int, ...]] = []
    warnings: list[str] = []
    if activity.routing == "arc":
        stops, groups = arc_stops(conn, layer, activity, communes, params, request.assets)
    else:
        stops, warnings = point_stops(conn, layer, activity, communes, params, request.assets)
    if not stops:
        where = f" where {activity.where}" if activity.where else ""
        raise NothingToDo(
            f"no {layer.collection}{where} in commune(s) {', '.join(communes)} for {request.service}/{activity.name}; "
            "import them, or choose other communes or another activity"
        )
    depots = resolve_depots(conn, request.service, communes, request.depots, request.crews, params)
    selected = [
        r[0]
        for r in conn.execute(
            sql.SQL("SELECT id FROM ({}) a").format(asset_query(layer, activity, communes, request.assets))
        )
    ]
    lap("stops")
    nd = len(depots)
    graph = load_graph(conn)
    places = [d.place for d in depots] + [s.place for s in stops]
    edges = access.load_edges(conn, {p.edge for p in places})
    travel = access.travel_matrix(conn, places, edges, graph)
    stops, groups, travel, unreachable = _drop_unreachable(
        graph, travel, depots, stops, groups, edges, selected, layer, request.strict
    )
    stops, groups, travel = split_long_stops(stops, groups, travel, nd, params.shift_seconds)
    places = [d.place for d in depots] + [s.place for s in stops]
    lap("matrix")
    if not stops:  # nothing reachable: a plan of no round that lists everything (a comparison goes on)
        return Plan(request, params, layer, activity, communes, stops, depots, [], warnings,
                    {"name": "pyvrp", "timings_s": timings}, unreachable, len(selected))  # fmt: skip
    service_s = np.array([0.0] * nd + [s.service_s for s in stops])
    service = np.ceil(service_s * TICKS).astype(np.int64)
    ticks = np.where(np.isfinite(travel), np.ceil(travel * TICKS), UNREACHABLE).astype(np.int64)
    shift = params.shift_seconds * TICKS
    alone = [service[nd + i] + min(ticks[d, nd + i] + ticks[nd + i, d] for d in range(nd)) for i in range(len(stops))]
    worst = int(np.argmax(alone))
    if alone[worst] > shift:  # only the drive can do this: longer work was split into visits above
        trip = (alone[worst] - service[nd + worst]) / TICKS
        raise vrp.RoundsDoNotFit(
            f"stop {stops[worst].label}: the drive there and back alone takes {_duration(trip)}, its work "
            f"{_duration(service[nd + worst] / TICKS)}: more than a {params.shift_hours:g} h shift; lengthen the "
            "shift (shift_hours) or serve it from a nearer depot"
        )
    # each crew of each depot does one round a day: `days` bounds the rounds, else as many as it takes
    if request.days is not None:
        per_depot = tuple(d.crews * request.days for d in depots)
    else:
        needed = math.ceil(1.5 * int(service.sum()) / shift) + 1
        per_depot = tuple(max(d.crews, 2 * needed) for d in depots)
    problem = vrp.Problem(
        distance=ticks,
        duration=ticks,
        service=service,
        depots=nd,
        depot_vehicles=per_depot,
        max_duration=shift,
        groups=tuple(tuple(nd + m for m in g) for g in groups),
        fixed_cost=600 * TICKS,
        seconds_per_unit=1 / TICKS,
    )
    try:
        budget = params.solver_seconds
        if request.seconds_per_stop:
            budget = min(budget, max(0.05, request.seconds_per_stop * len(stops)))
        solution = vrp.solve(
            problem, seconds=budget, workers=request.workers, seed=request.seed, iterations=request.iterations
        )
    except vrp.RoundsDoNotFit as exc:
        days = f" in {request.days} day(s)" if request.days else ""
        raise vrp.RoundsDoNotFit(
            f"{layer.collection} {activity.name} of {len(communes)} commune(s){days}: {exc}; "
            f"(crews: {', '.join(f'{d.name} {d.crews}' for d in depots)})"
        ) from exc
    lap("solve")
    used = [c for r in solution.routes for c in r]
    if any(
        ticks[a, b] >= UNREACHABLE
        for r, d in zip(solution.routes, solution.depots, strict=True)
        for a, b in zip([d, *r], [*r, d], strict=True)
    ):
        raise Unreachable("the rounds would need a road that does not exist; check the network report")
    assert len(used) == len(set(used))
    rounds = _expand(conn, solution, depots, stops, places, edges, service_s)
    lap("legs")
    return Plan(
        request=request,
        params=params,
        layer=layer,
        activity=activity,
        communes=communes,
        stops=stops,
        depots=depots,
        rounds=rounds,
        warnings=warnings,
        unreachable=unreachable,
        selected_assets=len(selected),
        solver={
            "name": "pyvrp",
            "seconds": params.solver_seconds,
            "seed": solution.seed,
            **solution.stats,
            "timings_s": timings,
        },
    )


def _expand(
    conn: psycopg.Connection,
    solution: vrp.Solution,
    depots: list[Depot],
    stops: list[Stop],
    places: list[Place],
    edges: dict[int, Edge],
    service: np.ndarray,
) -> list[Round]:
    nd = len(depots)
    order = sorted(range(len(solution.routes)), key=lambda k: (solution.depots[k], -len(solution.routes[k])))
    pairs = []
    for k in order:
        nodes = [solution.depots[k], *solution.routes[k], solution.depots[k]]
        pairs += [(places[a], places[b]) for a, b in itertools.pairwise(nodes)]
    all_legs = iter(access.legs(conn, pairs, edges))
    rounds: list[Round] = []
    per_depot: dict[int, int] = {}
    for number, k in enumerate(order, start=1):
        d = solution.depots[k]
        nodes = [d, *solution.routes[k], d]
        seen = per_depot.get(d, 0)
        per_depot[d] = seen + 1
        lines, arrivals = [], []
        clock = travel_s = travel_m = work_m = 0.0
        for b in nodes[1:]:
            leg = next(all_legs)
            clock += leg.seconds
            travel_s += leg.seconds
            travel_m += leg.metres
            if leg.line:
                lines.append(leg.line)
            if b >= nd:
                stop = stops[b - nd]
                arrivals.append(clock)
                clock += service[b]
                if stop.place.arc:
                    work_m += stop.work_m
                    lines.append(access.work_line(stop.place, edges[stop.place.edge]))
        rounds.append(
            Round(
                number=number,
                depot=depots[d],
                day=seen // depots[d].crews + 1,
                crew=seen % depots[d].crews + 1,
                stops=[b - nd for b in solution.routes[k]],
                arrivals_s=arrivals,
                travel_s=travel_s,
                service_s=float(sum(service[b] for b in solution.routes[k])),
                travel_m=travel_m,
                work_m=work_m,
                lines=[line for line in lines if len(line) >= 2],
            )
        )
    return rounds


def store(conn: psycopg.Connection, plan: Plan, user: str | None = None) -> int:
    """Write the plan, its rounds and stops in one transaction; returns the plan id."""
    srid = int(conn.execute("SELECT value FROM patrimoine_sys.setting WHERE key = 'srid'").fetchone()[0])
    label = plan.request.label or f"{plan.layer.title.en} — {plan.activity.title.en} ({len(plan.communes)} communes)"
    with conn.transaction():
        if user:
            conn.execute("SELECT set_config('gis_patrimoine.user', %s, true)", (user,))
        plan_id = conn.execute(
            "INSERT INTO analysis.round_plan (service, activity, label, communes, routing, parameters, summary) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                plan.request.service,
                plan.activity.name,
                label,
                plan.communes,
                plan.activity.routing,
                json.dumps(plan.params.model_dump()),
                json.dumps(plan.summary()),
            ),
        ).fetchone()[0]
        edges = access.load_edges(conn, {s.place.edge for s in plan.stops})
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO analysis.round (plan_id, number, label, service, activity, depot_id, depot_name, day, "
                "crew, stops, assets, km_travel, km_work, hours_on_site, hours_travel, communes, geom) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "ST_SetSRID(ST_GeomFromText(%s), %s))",
                [
                    (
                        plan_id,
                        r.number,
                        f"{r.depot.name} — day {r.day}, crew {r.crew}",
                        plan.request.service,
                        plan.activity.name,
                        r.depot.id,
                        r.depot.name,
                        r.day,
                        r.crew,
                        len(r.stops),
                        len({a for i in r.stops for a in plan.stops[i].assets}),  # a road in pieces is one
                        r.travel_m / 1000,
                        r.work_m / 1000,
                        r.service_s / 3600,
                        r.travel_s / 3600,
                        sorted({plan.stops[i].commune for i in r.stops}),
                        _multiline_wkt(r.lines),
                        srid,
                    )
                    for r in plan.rounds
                ],
            )
            cur.executemany(
                "INSERT INTO analysis.round_stop (plan_id, round_number, seq, layer, asset_ids, road_id, "
                "commune_insee, label, arrival_min, on_site_min, geom) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), %s))",
                [
                    (
                        plan_id,
                        r.number,
                        seq,
                        s.layer,
                        s.assets,
                        edges[s.place.edge].road_id,
                        s.commune,
                        s.label,
                        r.arrivals_s[seq - 1] / 60,
                        s.service_s / 60,
                        *access.point_of(s.place, edges[s.place.edge]),
                        srid,
                    )
                    for r in plan.rounds
                    for seq, s in enumerate((plan.stops[i] for i in r.stops), start=1)
                ],
            )
    plan.id = plan_id
    return plan_id


def _multiline_wkt(lines: list[list[tuple[float, float]]]) -> str:
    if not lines:
        return "MULTILINESTRING EMPTY"
    return "MULTILINESTRING(" + ",".join("(" + ",".join(f"{x!r} {y!r}" for x, y in ln) + ")" for ln in lines) + ")"
