"""Which depots a fully pooled service keeps: fixed-charge facility location on the road network.

Minimise Σ depot fixed cost × kept + Σ commune's rounds a year × its round trip to its depot × the cost of an
hour of crew and van, with every commune served by one kept depot within `max_travel_min` of it (a commune no
depot reaches in time goes to its nearest, said in the notes), and no kept depot holding more agents than its
capacity (the diagnostic's crews × 2). Solved exactly (HiGHS through
scipy.optimize.milp: a few dozen depots and communes). A commune's place is the junction nearest a point inside
it; its rounds a year come from the status quo's own rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from gis_patrimoine.analysis.areas import depot_nodes
from gis_patrimoine.analysis.errors import AnalysisRefused
from gis_patrimoine.analysis.network import Graph, nearest_edge


@dataclass
class Location:
    kept: list[int]
    assignment: dict[str, int]  # commune -> depot
    travel_min: dict[str, float]  # commune -> one way, minutes
    notes: list[str]
    objective_eur: float


def commune_nodes(conn: psycopg.Connection, communes: list[str]) -> dict[str, int]:
    query = sql.SQL(
        "SELECT c.insee, e.source FROM patrimoine.commune c CROSS JOIN LATERAL {} WHERE c.insee = ANY({})"
    ).format(nearest_edge(sql.SQL("ST_PointOnSurface(c.geom)")), sql.Literal(communes))
    return dict(conn.execute(query).fetchall())


def travel_minutes(conn: psycopg.Connection, graph: Graph, depots: list[int], communes: list[str]) -> np.ndarray:
    """Round trip minutes (there and back) from each depot to each commune's junction; inf when unreachable."""
    dn = depot_nodes(conn, depots)
    cn = commune_nodes(conn, communes)
    there = graph.costs([dn[d] for d in depots], [cn.get(c, -1) for c in communes])
    back = graph.costs([cn.get(c, -1) for c in communes], [dn[d] for d in depots]).T
    return (there + back) / 60.0


def locate(
    depots: list[int],
    communes: list[str],
    round_trip_min: np.ndarray,  # depots × communes
    fixed_eur: dict[int, float],
    rounds: dict[str, float],
    eur_per_hour: float,
    max_travel_min: float,
    capacity: dict[int, float | None] | None = None,  # agents a depot holds (None: not limited)
    demand: dict[str, float] | None = None,  # agents a commune's work takes
) -> Location:
    """The depots to keep and each commune's depot (see the module's docstring)."""
    nd, nc = len(depots), len(communes)
    notes: list[str] = []
    capacity, demand = capacity or {}, demand or {}
    limited = [i for i, d in enumerate(depots) if capacity.get(d) is not None]
    if limited and len(limited) == nd and sum(capacity[d] for d in depots) < sum(demand.get(c, 0) for c in communes):
        notes.append("the depots together hold fewer agents than the work takes: capacities not applied")
        limited = []
    allowed = round_trip_min / 2 <= max_travel_min
    for j, c in enumerate(communes):
        if not allowed[:, j].any():
            k = int(np.argmin(round_trip_min[:, j]))
            if not np.isfinite(round_trip_min[k, j]):
                notes.append(f"{c}: no depot reaches it by road; left to its nearest by distance")
                k = 0
            else:
                notes.append(
                    f"{c}: no depot within {max_travel_min:g} min; served from the nearest "
                    f"({round_trip_min[k, j] / 2:.0f} min)"
                )
            allowed[k, j] = True
    trip = np.where(np.isfinite(round_trip_min), round_trip_min, 1e6)
    assign = np.array([[rounds.get(c, 0.0) * trip[i, j] / 60 * eur_per_hour for j, c in enumerate(communes)]
                       for i in range(nd)])  # fmt: skip
    # variables: y (nd), then x (nd × nc) row-major
    cost = np.concatenate([[fixed_eur.get(d, 0.0) for d in depots], assign.ravel()])
    n = nd + nd * nc
    upper = np.concatenate([np.ones(nd), allowed.ravel().astype(float)])
    a = lil_matrix((nc + nd * nc + len(limited), n))
    for j in range(nc):
        for i in range(nd):
            a[j, nd + i * nc + j] = 1.0  # each commune served once
    for i in range(nd):
        for j in range(nc):
            row = nc + i * nc + j
            a[row, nd + i * nc + j] = 1.0  # x_ij <= y_i
            a[row, i] = -1.0
    for k, i in enumerate(limited):  # Σ agents served from a depot <= what it holds, when kept
        row = nc + nd * nc + k
        for j, c in enumerate(communes):
            a[row, nd + i * nc + j] = demand.get(c, 0.0)
        a[row, i] = -float(capacity[depots[i]])
    lower = np.concatenate([np.ones(nc), np.full(nd * nc + len(limited), -np.inf)])
    high = np.concatenate([np.ones(nc), np.zeros(nd * nc + len(limited))])
    rows = nc + nd * nc + len(limited)
    result = milp(
        cost,
        constraints=LinearConstraint(a.tocsr()[:rows], lower[:rows], high[:rows]),
        integrality=np.concatenate([np.ones(nd), np.zeros(nd * nc)]),
        bounds=Bounds(np.zeros(n), upper),
    )
    if not result.success and limited:  # capacities and the travel limit together cannot be met: drop capacities
        notes.append("capacities and the travel limit cannot both be met: capacities not applied")
        rows = nc + nd * nc
        result = milp(
            cost,
            constraints=LinearConstraint(a.tocsr()[:rows], lower[:rows], high[:rows]),
            integrality=np.concatenate([np.ones(nd), np.zeros(nd * nc)]),
            bounds=Bounds(np.zeros(n), upper),
        )
    if not result.success:
        raise AnalysisRefused(f"no choice of depots serves every commune: {result.message}")
    y = result.x[:nd] > 0.5
    x = result.x[nd:].reshape(nd, nc)
    assignment = {c: depots[int(np.argmax(x[:, j]))] for j, c in enumerate(communes)}
    travel = {c: float(round_trip_min[depots.index(assignment[c]), j] / 2) for j, c in enumerate(communes)}
    return Location([d for d, k in zip(depots, y, strict=True) if k], assignment, travel, notes, float(result.fun))
