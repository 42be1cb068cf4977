"""The road network as a graph: connected components from shared end points."""

from __future__ import annotations

import numpy as np
import psycopg
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SNAP_M = 0.001  # end points closer than a millimetre are one junction


def component_sizes(conn: psycopg.Connection) -> list[int]:
    """Number of road segments in each connected component of the network, largest first."""
    rows = conn.execute(
        "SELECT ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)), ST_X(ST_EndPoint(geom)), "
        "ST_Y(ST_EndPoint(geom)) FROM patrimoine.road"
    ).fetchall()
    if not rows:
        return []
    ends = np.round(np.array(rows, dtype=float).reshape(-1, 2) / SNAP_M).astype(np.int64)
    keys, inverse = np.unique(ends, axis=0, return_inverse=True)
    pairs = inverse.ravel().reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(keys), len(keys)))
    _, labels = connected_components(graph, directed=False)
    return sorted(np.bincount(labels[pairs[:, 0]]).tolist(), reverse=True)
