"""The road network as a graph: built by pgRouting from the road layer, refreshed when roads change.

`component_sizes_from_roads` reads the road end points directly (scipy), independently of pgRouting: the
demo generator's report and the tests use it to check what pgRouting computes.
"""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SNAP_M = 0.001  # end points closer than a millimetre are one junction
EDGES_SQL = "SELECT id, source, target, cost, reverse_cost FROM analysis.network_edge"


def ensure_network(conn: psycopg.Connection) -> bool:
    """Rebuild analysis.network_* if the road layer changed since the last build; returns whether it did."""
    built, current = conn.execute(
        "SELECT (SELECT value::bigint FROM patrimoine_sys.setting WHERE key = 'network_version'), "
        "(SELECT version FROM patrimoine_sys.data_version WHERE layer = 'road')"
    ).fetchone()
    if built == current:
        return False
    conn.execute("SELECT patrimoine_app.refresh_network()")
    conn.commit()
    return True


def components(conn: psycopg.Connection) -> list[int]:
    """Road segments per connected component of the network (pgRouting), largest first."""
    ensure_network(conn)
    rows = conn.execute(
        "SELECT count(DISTINCT e.id) FROM pgr_connectedComponents(%s) c "
        "JOIN analysis.network_edge e ON e.source = c.node GROUP BY c.component ORDER BY 1 DESC",
        (EDGES_SQL,),
    ).fetchall()
    return [r[0] for r in rows]


def cost_matrix(conn: psycopg.Connection, nodes: list[int]) -> np.ndarray:
    """Travel times in seconds between network nodes (directed: one-way streets count); inf if unreachable."""
    ensure_network(conn)
    index = {n: i for i, n in enumerate(nodes)}
    matrix = np.full((len(nodes), len(nodes)), np.inf)
    np.fill_diagonal(matrix, 0.0)
    for start, end, cost in conn.execute(
        "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCostMatrix(%s, %s, directed => true)", (EDGES_SQL, nodes)
    ):
        matrix[index[start], index[end]] = cost
    return matrix


def endpoint_components(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Component label of each line given its (n, 2) start and end points; lines meet where end points
    coincide to the millimetre. Independent of pgRouting, to check it and to report on generated networks."""
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


def network_report(conn: psycopg.Connection, far_m: float = 150.0) -> dict:
    """Connected parts of the network (pgRouting) and, per point/area layer, the assets farther than `far_m`
    from any road: what keeps rounds from reaching everything."""
    ensure_network(conn)
    parts = conn.execute(
        "SELECT count(DISTINCT e.id), sum(e.length_m) / 1000, min(e.commune_insee) FROM pgr_connectedComponents(%s) c "
        "JOIN analysis.network_edge e ON e.source = c.node GROUP BY c.component ORDER BY 1 DESC",
        (EDGES_SQL,),
    ).fetchall()
    total = conn.execute("SELECT count(*), coalesce(sum(length_m), 0) / 1000 FROM analysis.network_edge").fetchone()
    far: dict[str, list[tuple[int, float]]] = {}
    for table, collection in (
        ("street_light", "street_lights"),
        ("building", "buildings"),
        ("green_space", "green_spaces"),
        ("depot", "depots"),
    ):
        rows = conn.execute(
            sql.SQL(
                "SELECT a.id, d.dist FROM patrimoine.{} a CROSS JOIN LATERAL (SELECT ST_Distance(e.geom, a.geom) dist "
                "FROM analysis.network_edge e ORDER BY e.geom <-> a.geom LIMIT 1) d WHERE d.dist > %s "
                "ORDER BY d.dist DESC"
            ).format(sql.Identifier(table)),
            (far_m,),
        ).fetchall()
        far[collection] = [(r[0], float(r[1])) for r in rows]
    return {
        "segments": total[0],
        "km": float(total[1]),
        "components": [{"segments": r[0], "km": float(r[1]), "commune": r[2]} for r in parts],
        "far_assets": far,
    }
