"""The road network as a graph: noded and built in the database from the road layer, refreshed when roads change.

`refresh_network()` (sql/0012_noding.sql) cuts the roads where they meet — at shared vertices, at another
road's end, or where a dangling end stops within the tolerance of a road of its level — and records what a
technician should look at in analysis.network_issue. Travel uses the *driven* network: the classes a
maintenance vehicle may drive (layers/codelists.yaml, `drivable`).

`Graph` holds the driven network in memory (scipy's compressed sparse rows): its parts, and the shortest
travel times from many junctions at once. `component_sizes_from_roads` reads the road end points directly,
independently of the database, to check generated networks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from gis_patrimoine.catalogue import get_catalogue

SNAP_M = 0.001  # end points closer than a millimetre are one junction
EDGES_SQL = "SELECT id, source, target, cost, reverse_cost FROM analysis.network_edge WHERE drivable"
MATRIX_CELLS = 50_000_000  # distances held at once while computing a matrix (400 MB of float64)


def asset_tables() -> list[tuple[str, str]]:
    """(table, collection) of the catalogue's point and area assets, served from their nearest segment (roads
    are the network itself): a layer added to the catalogue is counted per part and checked for distance."""
    return [(la.table, la.collection) for la in get_catalogue().asset_layers if la.name != "road"]


def nearest_edge(geom: sql.Composable, driven: bool = True) -> sql.Composable:
    """A FROM item (alias `e`): the network segment nearest to `geom`, driven ones only by default. Of the few
    the spatial index gives first, the nearest to the micrometre, then the lowest id: a point as near two
    segments (a junction) always gets the same one, whatever the physical order of the rows, so that a plan is
    the same after the network is rebuilt."""
    where = "WHERE n.road_id IS NOT NULL" + (" AND n.drivable" if driven else "")  # not the builder's connectors
    return sql.SQL(
        "(SELECT * FROM (SELECT n.*, n.geom <-> {g} AS knn FROM analysis.network_edge n {w} "
        "ORDER BY n.geom <-> {g} LIMIT 8) k ORDER BY round(k.knn::numeric, 6), k.id LIMIT 1) e"
    ).format(g=geom, w=sql.SQL(where))


VERSIONS = (
    "SELECT (SELECT value::bigint FROM patrimoine_sys.setting WHERE key = 'network_version'), "
    "(SELECT version FROM patrimoine_sys.data_version WHERE layer = 'road')"
)


def ensure_network(conn: psycopg.Connection) -> bool:
    """Rebuild analysis.network_* if the road layer changed since the last build; returns whether it did.

    The rebuild runs and commits on a connection of its own, one at a time (an advisory lock; a second caller
    waits, then finds it built): the caller's transaction is never committed behind its back, and a read-only
    request stays read-only."""
    built, current = conn.execute(VERSIONS).fetchone()
    if built == current:
        return False
    url = make_conninfo(conn.info.dsn, password=conn.info.password) if conn.info.password else conn.info.dsn
    with psycopg.connect(url) as own:
        own.execute("SELECT pg_advisory_xact_lock(hashtext('gis_patrimoine.network'))")
        built, current = own.execute(VERSIONS).fetchone()
        if built != current:
            own.execute("SELECT patrimoine_app.refresh_network()")
    return True


@dataclass(frozen=True)
class Part:
    """A connected part of the driven network (1 is the largest by km)."""

    number: int
    segments: int
    roads: int
    km: float
    communes: list[str]


@dataclass
class Graph:
    """The driven network in memory: junction ids, a directed matrix of seconds, and its connected parts."""

    nodes: np.ndarray  # junction ids, sorted
    matrix: csr_matrix  # seconds from row junction to column junction, one-way rules applied
    part_of_node: np.ndarray  # part number of each junction (0 for a junction no driven road touches)
    parts: list[Part]

    def index(self, node_ids: list[int] | np.ndarray) -> np.ndarray:
        return np.searchsorted(self.nodes, np.asarray(node_ids, dtype=np.int64))

    def part(self, node_id: int) -> int:
        i = int(self.index([node_id])[0])
        return int(self.part_of_node[i]) if i < len(self.nodes) and self.nodes[i] == node_id else 0

    def costs(self, sources: list[int], targets: list[int]) -> np.ndarray:
        """Seconds from each source junction to each target junction (inf when unreachable): one Dijkstra per
        source over the whole driven network, in batches that bound the memory."""
        out = np.full((len(sources), len(targets)), np.inf)
        if not sources or not targets or not len(self.nodes):
            return out
        src, dst = self._known(sources), self._known(targets)
        rows, cols = np.flatnonzero(src >= 0), np.flatnonzero(dst >= 0)  # junctions no driven road touches: inf
        batch = max(1, MATRIX_CELLS // max(len(self.nodes), 1))
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            dist = dijkstra(self.matrix, directed=True, indices=src[chunk])
            out[np.ix_(chunk, cols)] = dist[:, dst[cols]]
        return out

    def _known(self, node_ids: list[int]) -> np.ndarray:
        """Index of each junction in the graph, -1 for those not in it."""
        idx = np.minimum(self.index(node_ids), max(len(self.nodes) - 1, 0))
        return np.where(self.nodes[idx] == np.asarray(node_ids, dtype=np.int64), idx, -1)


def load_graph(conn: psycopg.Connection) -> Graph:
    """The driven network from analysis.network_edge (rebuilt first if the roads changed)."""
    ensure_network(conn)
    rows = conn.execute(
        "SELECT e.id, e.road_id, e.source, e.target, e.cost, e.reverse_cost, e.length_m, e.commune_insee "
        "FROM analysis.network_edge e WHERE e.drivable ORDER BY e.id"
    ).fetchall()
    node_ids = np.array(sorted({r[2] for r in rows} | {r[3] for r in rows}), dtype=np.int64)
    if not rows:
        return Graph(node_ids, csr_matrix((0, 0)), np.zeros(0, dtype=np.int64), [])
    source = np.searchsorted(node_ids, np.array([r[2] for r in rows], dtype=np.int64))
    target = np.searchsorted(node_ids, np.array([r[3] for r in rows], dtype=np.int64))
    cost = np.array([r[4] for r in rows], dtype=float)
    reverse = np.array([r[5] for r in rows], dtype=float)
    # both directions as arcs; parallel arcs keep the fastest (a sparse matrix would add them up)
    tail = np.concatenate([source[cost >= 0], target[reverse >= 0]])
    head = np.concatenate([target[cost >= 0], source[reverse >= 0]])
    seconds = np.maximum(np.concatenate([cost[cost >= 0], reverse[reverse >= 0]]), 1e-9)  # 0 would be no arc
    keep = tail != head
    tail, head, seconds = tail[keep], head[keep], seconds[keep]
    order = np.lexsort((seconds, head, tail))
    tail, head, seconds = tail[order], head[order], seconds[order]
    first = np.ones(len(tail), dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    n = len(node_ids)
    matrix = coo_matrix((seconds[first], (tail[first], head[first])), shape=(n, n)).tocsr()
    _, labels = connected_components(matrix, directed=True, connection="weak")
    edge_label = labels[source]
    km = np.bincount(edge_label, weights=np.array([r[6] for r in rows], dtype=float)) / 1000
    ranked = np.argsort(-km, kind="stable")
    number = np.empty(len(km), dtype=np.int64)
    number[ranked] = np.arange(1, len(km) + 1)
    by_label: dict[int, list[tuple]] = {}
    for r, lab in zip(rows, edge_label.tolist(), strict=True):
        by_label.setdefault(lab, []).append(r)
    parts = []
    for label in ranked:
        members = by_label.get(int(label), [])
        parts.append(
            Part(
                number=int(number[label]),
                segments=len(members),
                roads=len({r[1] for r in members if r[1] is not None}),
                km=float(km[label]),
                communes=sorted({r[7] for r in members}),
            )
        )
    return Graph(node_ids, matrix, number[labels], parts)


def components(conn: psycopg.Connection) -> list[int]:
    """Driven network segments per connected part, largest part (by km) first."""
    return [p.segments for p in load_graph(conn).parts]


def cost_matrix(conn: psycopg.Connection, nodes: list[int]) -> np.ndarray:
    """Travel times in seconds between network nodes (directed: one-way streets count); inf if unreachable."""
    graph = load_graph(conn)
    return graph.costs(nodes, nodes)


def endpoint_components(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Component label of each line given its (n, 2) start and end points; lines meet where end points
    coincide to the millimetre. Independent of the database, to report on generated networks."""
    points = np.round(np.concatenate([starts, ends]) / SNAP_M).astype(np.int64)
    keys, inverse = np.unique(points, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n = len(starts)
    graph = coo_matrix((np.ones(n), (inverse[:n], inverse[n:])), shape=(len(keys), len(keys)))
    _, labels = connected_components(graph, directed=False)
    return labels[inverse[:n]]


def component_sizes_from_roads(conn: psycopg.Connection) -> list[int]:
    """Number of road segments in each connected component of the network, largest first."""
    rows = conn.execute(
        "SELECT ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)), ST_X(ST_EndPoint(geom)), "
        "ST_Y(ST_EndPoint(geom)) FROM patrimoine.road"
    ).fetchall()
    if not rows:
        return []
    ends = np.array(rows, dtype=float)
    labels = endpoint_components(ends[:, :2], ends[:, 2:])
    return sorted(np.bincount(labels).tolist(), reverse=True)


def _edge_nodes_at_territory_edge(conn: psycopg.Connection) -> set[int]:
    """Junctions on the outer boundary of the communes: roads cut there by the import may go on outside."""
    return {
        r[0]
        for r in conn.execute(
            "WITH t AS (SELECT ST_Boundary(ST_Union(geom)) g FROM patrimoine.commune) "
            "SELECT n.id FROM analysis.network_node n, t WHERE ST_DWithin(n.geom, t.g, 1.0)"
        )
    }


def network_report(conn: psycopg.Connection, far_m: float = 150.0, issues_listed: int = 50) -> dict:
    """What keeps rounds from reaching everything: the parts of the driven network (km, communes, whether
    they reach the territory's edge, assets served from each), the roads not driven, the repairs the builder
    made or suggests (analysis.network_issue), and the assets farther than `far_m` from any driven road."""
    graph = load_graph(conn)
    at_edge = _edge_nodes_at_territory_edge(conn)
    edge_parts = {graph.part(n) for n in at_edge}
    total = conn.execute(
        "SELECT count(*) FILTER (WHERE drivable), coalesce(sum(length_m) FILTER (WHERE drivable), 0) / 1000, "
        "count(*) FILTER (WHERE NOT drivable), coalesce(sum(length_m) FILTER (WHERE NOT drivable), 0) / 1000 "
        "FROM analysis.network_edge"
    ).fetchone()
    roads = conn.execute("SELECT count(*), coalesce(sum(length_m), 0) / 1000 FROM patrimoine.road").fetchone()
    # assets per part: the part of the driven segment each is served from (roads: their driven pieces)
    per_part: dict[int, dict[str, int]] = {}
    edge_node = dict(conn.execute("SELECT id, source FROM analysis.network_edge WHERE drivable").fetchall())
    for table, collection in (*asset_tables(), ("road", "roads")):
        if table == "road":
            rows = conn.execute(
                "SELECT DISTINCT ON (road_id) road_id, id FROM analysis.network_edge WHERE drivable "
                "AND road_id IS NOT NULL ORDER BY road_id, id"
            ).fetchall()
        else:
            rows = conn.execute(
                sql.SQL("SELECT a.id, e.id FROM patrimoine.{} a CROSS JOIN LATERAL {}").format(
                    sql.Identifier(table), nearest_edge(sql.SQL("a.geom"))
                )
            ).fetchall()
        for _, edge in rows:
            counts = per_part.setdefault(graph.part(edge_node[edge]), {})
            counts[collection] = counts.get(collection, 0) + 1
    far: dict[str, list[tuple[int, float]]] = {}
    for table, collection in asset_tables():
        rows = conn.execute(
            sql.SQL(
                "SELECT a.id, d.dist FROM patrimoine.{} a CROSS JOIN LATERAL (SELECT ST_Distance(e.geom, a.geom) dist "
                "FROM {}) d WHERE d.dist > %s ORDER BY d.dist DESC"
            ).format(sql.Identifier(table), nearest_edge(sql.SQL("a.geom"))),
            (far_m,),
        ).fetchall()
        far[collection] = [(r[0], float(r[1])) for r in rows]
    issue_counts = dict(conn.execute("SELECT kind, count(*) FROM analysis.network_issue GROUP BY kind").fetchall())
    issues = [
        {"id": r[0], "kind": r[1], "road_id": r[2], "other_road_id": r[3], "distance_m": r[4], "reason": r[5]}
        for r in conn.execute(
            "SELECT id, kind, road_id, other_road_id, round(distance_m::numeric, 2)::float8, reason "
            "FROM analysis.network_issue ORDER BY kind <> 'near_miss', distance_m NULLS LAST, id LIMIT %s",
            (issues_listed,),
        )
    ]
    driven_km = float(total[1])
    largest = graph.parts[0].km if graph.parts else 0.0
    return {
        "roads": roads[0],
        "roads_km": float(roads[1]),
        "segments": total[0],
        "km": driven_km,
        "not_driven": {"segments": total[2], "km": float(total[3])},
        "largest_part_share": largest / driven_km if driven_km else 0.0,
        "components": [
            {
                "part": p.number,
                "segments": p.segments,
                "roads": p.roads,
                "km": p.km,
                "communes": p.communes,
                "commune": p.communes[0] if p.communes else None,
                "reaches_territory_edge": p.number in edge_parts,
                "assets": per_part.get(p.number, {}),
            }
            for p in graph.parts
        ],
        "issues": {"counts": issue_counts, "listed": issues},
        "far_assets": far,
    }
