"""Places on the road network and the travel between them, exactly: no snapping to the nearest junction.

A *place* is where a crew stops or works: a point at a fraction along a road segment (an asset group, a
depot), or a whole segment worked in one direction (arc routing: sweeping, verge mowing). Travel from a place
leaves through the ends of its segment that its one-way rule allows, crosses the driven network by shortest
paths between junctions (Dijkstra on the graph in memory for the matrix, pgRouting's `pgr_dijkstra` for the
legs of the chosen rounds) and enters the next place through its segment the same way; two points on one
segment are also joined directly along it. Costs are seconds (length / speed of the class), as in analysis.network_edge.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import psycopg
import shapely
from psycopg import sql
from shapely.ops import substring

from gis_patrimoine.analysis.errors import AnalysisRefused
from gis_patrimoine.analysis.network import EDGES_SQL, Graph, ensure_network, load_graph, nearest_edge


@dataclass(frozen=True)
class Edge:
    id: int
    source: int
    target: int
    cost: float  # seconds source → target, < 0 when forbidden
    reverse_cost: float
    length: float
    line: shapely.LineString
    road_id: int | None = None  # the road it is a piece of (None: a connector the builder added)
    drivable: bool = True


@dataclass(frozen=True)
class Place:
    edge: int
    frac: float = 0.0  # a point at this fraction of the segment (from its source)
    arc: bool = False  # the whole segment, worked ...
    forward: bool = True  # ... from source to target (else target to source)


@dataclass
class Leg:
    seconds: float
    metres: float
    line: list[tuple[float, float]]


class Unreachable(AnalysisRefused):
    """A place the depot cannot reach (or come back from) by road; the message names it and what to fix."""


def load_edges(conn: psycopg.Connection, ids: set[int] | None = None) -> dict[int, Edge]:
    """Network segments (all, or these), with their geometry for legs and partial segments."""
    query = (
        "SELECT id, source, target, cost, reverse_cost, length_m, ST_AsBinary(geom), road_id, drivable "
        "FROM analysis.network_edge"
    )
    rows = conn.execute(query + " WHERE id = ANY(%s)", (list(ids),)) if ids is not None else conn.execute(query)
    return {r[0]: Edge(r[0], r[1], r[2], r[3], r[4], r[5], shapely.from_wkb(r[6]), r[7], r[8]) for r in rows}


def road_edges(conn: psycopg.Connection, road_ids: list[int]) -> dict[int, list[Edge]]:
    """The pieces the network builder cut each road into, in order along the road."""
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM analysis.network_edge WHERE road_id = ANY(%s) ORDER BY road_id, piece", (road_ids,)
        )
    ]
    edges = load_edges(conn, set(ids))
    out: dict[int, list[Edge]] = {}
    for eid in ids:
        out.setdefault(edges[eid].road_id, []).append(edges[eid])
    return out


def snap(conn: psycopg.Connection, query: sql.Composable, carry: tuple[str, ...] = ()) -> list[tuple]:
    """(id, edge, fraction, distance m, *carry) of each row of `query` (id, geom, …): the nearest driven network
    segment and the point of it nearest to the geometry (a polygon's nearest edge, not its centre); `carry`
    names columns of the query returned alongside, so that callers read their rows once."""
    ensure_network(conn)
    carried = sql.SQL("").join(sql.SQL(", q.{}").format(sql.Identifier(c)) for c in carry)
    return conn.execute(
        sql.SQL(
            "SELECT q.id, s.edge, s.frac, s.dist{} FROM ({}) q CROSS JOIN LATERAL ("
            "  SELECT e.id AS edge, ST_LineLocatePoint(e.geom, ST_ClosestPoint(e.geom, q.geom)) AS frac,"
            "         ST_Distance(e.geom, q.geom) AS dist FROM {}) s"
        ).format(carried, query, nearest_edge(sql.SQL("q.geom")))
    ).fetchall()


def off_network(conn: psycopg.Connection, query: sql.Composable) -> dict[int, float]:
    """Rows of `query` (id, geom, …) whose nearest network segment is not driven (a footpath, a square, a
    cycle path): crews walk there from the vehicle. Returns id -> straight-line metres to the driven network."""
    ensure_network(conn)
    rows = conn.execute(
        sql.SQL(
            "SELECT q.id, d.dist FROM ({}) q "
            "CROSS JOIN LATERAL (SELECT e.drivable, ST_Distance(e.geom, q.geom) AS dist FROM {}) n "
            "CROSS JOIN LATERAL (SELECT ST_Distance(e.geom, q.geom) AS dist FROM {}) d "
            "WHERE NOT n.drivable AND n.dist < d.dist"
        ).format(query, nearest_edge(sql.SQL("q.geom"), driven=False), nearest_edge(sql.SQL("q.geom")))
    ).fetchall()
    return {r[0]: float(r[1]) for r in rows}


def exits(place: Place, e: Edge) -> list[tuple[int, float, float]]:
    """(junction, seconds, metres) by which a crew leaves the place."""
    if place.arc:
        return [(e.target if place.forward else e.source, 0.0, 0.0)]
    out = []
    if e.cost >= 0:
        out.append((e.target, (1 - place.frac) * e.cost, (1 - place.frac) * e.length))
    if e.reverse_cost >= 0:
        out.append((e.source, place.frac * e.reverse_cost, place.frac * e.length))
    return out


def entries(place: Place, e: Edge) -> list[tuple[int, float, float]]:
    """(junction, seconds, metres) by which a crew reaches the place."""
    if place.arc:
        return [(e.source if place.forward else e.target, 0.0, 0.0)]
    out = []
    if e.cost >= 0:
        out.append((e.source, place.frac * e.cost, place.frac * e.length))
    if e.reverse_cost >= 0:
        out.append((e.target, (1 - place.frac) * e.reverse_cost, (1 - place.frac) * e.length))
    return out


def direct(a: Place, b: Place, e: Edge) -> tuple[float, float] | None:
    """(seconds, metres) along one segment between two points of it, if its one-way rule allows."""
    if a.arc or b.arc or a.edge != b.edge:
        return None
    if b.frac >= a.frac and e.cost >= 0:
        return (b.frac - a.frac) * e.cost, (b.frac - a.frac) * e.length
    if b.frac <= a.frac and e.reverse_cost >= 0:
        return (a.frac - b.frac) * e.reverse_cost, (a.frac - b.frac) * e.length
    return None


def junction_matrix(conn: psycopg.Connection, nodes: list[int], graph: Graph | None = None) -> np.ndarray:
    """Seconds between junctions over the driven network (directed; inf when unreachable): one Dijkstra per
    junction on the graph in memory (scipy), linear in the junctions asked where pgr_dijkstraCostMatrix's
    output is quadratic (bench/network_bench.py compares both)."""
    graph = graph or load_graph(conn)
    matrix = graph.costs(nodes, nodes)
    np.fill_diagonal(matrix, 0.0)
    return matrix


def travel_matrix(
    conn: psycopg.Connection, places: list[Place], edges: dict[int, Edge], graph: Graph | None = None
) -> np.ndarray:
    """Seconds from every place to every other (inf when impossible)."""
    outs = [exits(p, edges[p.edge]) for p in places]
    ins = [entries(p, edges[p.edge]) for p in places]
    nodes = sorted({n for opts in (*outs, *ins) for n, _, _ in opts})
    index = {n: i for i, n in enumerate(nodes)}
    sp = junction_matrix(conn, nodes, graph)
    n = len(places)
    best = np.full((n, n), np.inf)
    for k in range(2):
        out_node = np.array([index[o[k][0]] if len(o) > k else 0 for o in outs])
        out_cost = np.array([o[k][1] if len(o) > k else np.inf for o in outs])
        for m in range(2):
            in_node = np.array([index[i[m][0]] if len(i) > m else 0 for i in ins])
            in_cost = np.array([i[m][1] if len(i) > m else np.inf for i in ins])
            np.minimum(best, out_cost[:, None] + sp[np.ix_(out_node, in_node)] + in_cost[None, :], out=best)
    by_edge: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(places):
        if not p.arc:
            by_edge[p.edge].append(i)
    for members in by_edge.values():
        for i in members:
            for j in members:
                if i != j and (d := direct(places[i], places[j], edges[places[i].edge])) is not None:
                    best[i, j] = min(best[i, j], d[0])
    np.fill_diagonal(best, 0.0)
    return best


def _oriented(e: Edge, from_node: int) -> shapely.LineString:
    return e.line if from_node == e.source else shapely.LineString(list(e.line.coords)[::-1])


def _partial(e: Edge, start: float, end: float) -> list[tuple[float, float]]:
    if start == end:
        return []
    part = substring(e.line, start, end, normalized=True)
    return list(part.coords) if part.geom_type == "LineString" else []


def legs(conn: psycopg.Connection, pairs: list[tuple[Place, Place]], edges: dict[int, Edge]) -> list[Leg]:
    """The fastest way from each place to the next: seconds, metres and the line along the roads.
    Arcs contribute only their approach here; the worked segment itself is `work_line`."""
    choices = []
    for a, b in pairs:
        best = (np.inf, None)
        if (d := direct(a, b, edges[a.edge])) is not None:
            best = (d[0], ("direct", d))
        choices.append([best, exits(a, edges[a.edge]), entries(b, edges[b.edge])])
    junction_pairs = sorted({(x, y) for _, outs, ins in choices for x, _, _ in outs for y, _, _ in ins if x != y})
    paths: dict[tuple[int, int], list[tuple[int, int]]] = {}
    costs: dict[tuple[int, int], float] = {}
    if junction_pairs:
        combinations = sql.SQL("SELECT * FROM (VALUES {}) AS t(source, target)").format(
            sql.SQL(",").join(sql.SQL("({},{})").format(sql.Literal(x), sql.Literal(y)) for x, y in junction_pairs)
        )
        rows = conn.execute(
            "SELECT start_vid, end_vid, node, edge, agg_cost FROM pgr_dijkstra(%s, %s, directed => true) ORDER BY seq",
            (EDGES_SQL, combinations.as_string(conn)),
        )
        for start, end, node, edge, agg in rows:
            if edge == -1:
                costs[(start, end)] = agg
            else:
                paths.setdefault((start, end), []).append((node, edge))
    missing = {eid for steps in paths.values() for _, eid in steps} - edges.keys()
    if missing:
        edges = {**edges, **load_edges(conn, missing)}
    out: list[Leg] = []
    for (a, b), (best, exits_a, entries_b) in zip(pairs, choices, strict=True):
        for x, xs, _ in exits_a:
            for y, ys, _ in entries_b:
                through = 0.0 if x == y else costs.get((x, y), np.inf)
                if xs + through + ys < best[0]:
                    best = (xs + through + ys, ("via", x, y))
        if best[1] is None:
            out.append(Leg(np.inf, np.inf, []))
            continue
        ea, eb = edges[a.edge], edges[b.edge]
        if best[1][0] == "direct":
            out.append(Leg(best[0], best[1][1][1], _partial(ea, a.frac, b.frac)))
            continue
        _, x, y = best[1]
        coords: list[tuple[float, float]] = []
        metres = 0.0
        if not a.arc:  # leave the segment towards x
            coords += _partial(ea, a.frac, 1.0 if x == ea.target else 0.0)
            metres += (1 - a.frac if x == ea.target else a.frac) * ea.length
        for node, eid in paths.get((x, y), []) if x != y else []:
            e = edges[eid]
            coords += list(_oriented(e, node).coords)
            metres += e.length
        if not b.arc:  # enter the segment from y
            coords += _partial(eb, 0.0 if y == eb.source else 1.0, b.frac)
            metres += (b.frac if y == eb.source else 1 - b.frac) * eb.length
        out.append(Leg(best[0], metres, coords))
    return out


def work_line(place: Place, e: Edge) -> list[tuple[float, float]]:
    """The worked segment of an arc place, in its working direction."""
    return list(_oriented(e, e.source if place.forward else e.target).coords)


def point_of(place: Place, e: Edge) -> tuple[float, float]:
    """Where a place is: its point, or the middle of a worked segment (for labels and lookups only)."""
    p = e.line.interpolate(0.5 if place.arc else place.frac, normalized=True)
    return p.x, p.y
