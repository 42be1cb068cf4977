"""Travel from the depots over the network: costs to every junction, isochrones, catchments.

pgr_drivingDistance from each depot gives the travel time to every junction it reaches (a depot starts from
the junction at the near end of its segment). Isochrones are the concave hull of the junctions reached within
a time; catchments give each junction to the depot nearest to it by road and are drawn as the union of the
junctions' Voronoi cells, clipped to the territory: a partition of it that follows the network.
"""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql

from gis_patrimoine.analysis.access import snap
from gis_patrimoine.analysis.network import EDGES_SQL, ensure_network, nearest_edge
from gis_patrimoine.analysis.params import load as load_params
from gis_patrimoine.analysis.rounds import DepotProblem
from gis_patrimoine.analysis.selection import asset_query
from gis_patrimoine.catalogue import Activity, Layer


def depots_serving(conn: psycopg.Connection, service: str | None) -> list[tuple[int, str, int]]:
    """(id, name, crews) of the depots with crews that serve the service (all services when None)."""
    return conn.execute(
        "SELECT id, name, crews FROM patrimoine.depot WHERE crews > 0 AND (%s::text IS NULL OR %s = ANY(services)) "
        "ORDER BY id",
        (service, service),
    ).fetchall()


def depot_owners(conn: psycopg.Connection) -> dict[int, str | None]:
    """Who owns each depot with crews: the commune that answered for it in the diagnostic's depot sheet (None:
    the agglomération), else the commune it stands in — the agglomération's central depot in Laval is not
    Laval's. One rule for the scenarios and the arrangements."""
    return dict(
        conn.execute(
            "SELECT d.id, CASE WHEN c.depot_id IS NULL THEN d.commune_insee ELSE c.commune_insee END "
            "FROM patrimoine.depot d LEFT JOIN patrimoine.depot_cost c ON c.depot_id = d.id WHERE d.crews > 0"
        ).fetchall()
    )


def depot_nodes(conn: psycopg.Connection, depot_ids: list[int]) -> dict[int, int]:
    """The junction each depot starts from: the nearer end of its nearest segment (access.snap, as rounds do).
    A depot farther from every road than the parameters allow is refused, as by rounds: its crews' travel
    would start from a road it cannot reach."""
    limit = load_params(conn).snap_warn_m
    chosen = sql.SQL("SELECT id, geom FROM patrimoine.depot WHERE id = ANY({})").format(sql.Literal(list(depot_ids)))
    snapped = snap(conn, chosen)
    ends = dict(
        (r[0], r[1:])
        for r in conn.execute(
            "SELECT id, source, target FROM analysis.network_edge WHERE id = ANY(%s)", ([s[1] for s in snapped],)
        )
    )
    nodes = {}
    for did, edge, frac, dist in snapped:
        if dist > limit:
            name = conn.execute("SELECT name FROM patrimoine.depot WHERE id = %s", (did,)).fetchone()[0]
            raise DepotProblem(
                f"depot {name} (id {did}) is {dist:.0f} m from the nearest road (limit {limit:g} m): move it next "
                "to its access road, or import the roads around it"
            )
        source, target = ends[edge]
        nodes[did] = source if frac < 0.5 else target
    return nodes


def depot_costs(conn: psycopg.Connection, depot_ids: list[int]) -> tuple[list[int], np.ndarray]:
    """Junction ids and a (depots × junctions) matrix of seconds from each depot (inf where unreachable)."""
    starts = depot_nodes(conn, depot_ids)
    nodes = [r[0] for r in conn.execute("SELECT id FROM analysis.network_node WHERE drivable ORDER BY id")]
    index = {n: i for i, n in enumerate(nodes)}
    row_of = {node: k for k, node in enumerate(starts[d] for d in depot_ids)}
    costs = np.full((len(depot_ids), len(nodes)), np.inf)
    for start, node, cost in conn.execute(
        "SELECT from_v, node, agg_cost FROM pgr_drivingDistance(%s, %s::bigint[], 1e12, directed => true, "
        "equicost => false)",
        (EDGES_SQL, sorted(set(row_of))),
    ):
        costs[row_of[start], index[node]] = cost
    for k, d in enumerate(depot_ids):  # two depots on one junction share its row
        costs[k] = costs[row_of[starts[d]]]
    return nodes, costs


def catchments(conn: psycopg.Connection, depot_ids: list[int]) -> dict[int, tuple[int, float]]:
    """For every junction, the depot nearest to it by road and the time from it, in seconds
    (pgr_drivingDistance with equicost: each junction is reached once, by its nearest depot)."""
    depot_of = {node: did for did, node in depot_nodes(conn, depot_ids).items()}
    rows = conn.execute(
        "SELECT node, from_v, agg_cost FROM pgr_drivingDistance(%s, %s::bigint[], 1e12, directed => true, "
        "equicost => true)",
        (EDGES_SQL, list(depot_of)),
    )
    return {node: (depot_of[start], cost) for node, start, cost in rows}


def asset_junctions(
    conn: psycopg.Connection, layer: Layer, activity: Activity, communes: list[str]
) -> list[tuple[int, str, int, int, float]]:
    """(asset id, commune, source, target, units): the ends of the road segment each asset of the activity is
    worked from — the segment itself for road work, the nearest segment for the others — and the asset's units
    of work (m, m², units) as the catalogue counts them for the activity."""
    ensure_network(conn)
    query = asset_query(layer, activity, communes)
    nearest = sql.SQL("(SELECT source, target FROM {})").format(nearest_edge(sql.SQL("a.geom")))
    if activity.routing == "arc":  # a road's first driven piece; a road not driven: the driven segment nearest it
        nearest = sql.SQL(
            "(SELECT source, target FROM analysis.network_edge e WHERE e.road_id = a.id AND e.drivable "
            "ORDER BY e.piece LIMIT 1) UNION ALL {} LIMIT 1"
        ).format(nearest)
    return conn.execute(
        sql.SQL(
            "SELECT a.id, a.commune_insee, e.source, e.target, a.units FROM ({}) a CROSS JOIN LATERAL ({}) e"
        ).format(query, nearest)
    ).fetchall()


def store_areas(conn: psycopg.Connection, minutes: list[float], service: str | None = None) -> dict[str, int]:
    """Replace the isochrones and catchments of the depots serving `service` (all depots when None)."""
    depots = depots_serving(conn, service)
    ids = [d[0] for d in depots]
    nodes, costs = depot_costs(conn, ids)
    nearest = np.argmin(costs, axis=0)
    reachable = np.isfinite(costs.min(axis=0))
    with conn.transaction():
        conn.execute("CREATE TEMP TABLE depot_cost (depot_id bigint, node bigint, cost float8) ON COMMIT DROP")
        with conn.cursor().copy("COPY depot_cost FROM STDIN") as cp:
            for k, d in enumerate(ids):
                for j in np.flatnonzero(np.isfinite(costs[k])):
                    cp.write_row((d, nodes[j], float(costs[k, j])))
        conn.execute("CREATE TEMP TABLE nearest_depot (node bigint, depot_id bigint) ON COMMIT DROP")
        with conn.cursor().copy("COPY nearest_depot FROM STDIN") as cp:
            for j in np.flatnonzero(reachable):
                cp.write_row((nodes[j], ids[nearest[j]]))
        conn.execute("DELETE FROM analysis.depot_area WHERE service IS NOT DISTINCT FROM %s", (service,))
        iso = conn.execute(
            "INSERT INTO analysis.depot_area (kind, depot_id, depot_name, minutes, service, geom) "
            "SELECT 'isochrone', d.id, d.name, m, %s, ST_Multi(ST_CollectionExtract(ST_ConcaveHull("
            "ST_Collect(n.geom), 0.3), 3)) FROM depot_cost c JOIN analysis.network_node n ON n.id = c.node "
            "JOIN patrimoine.depot d ON d.id = c.depot_id CROSS JOIN unnest(%s::float8[]) m "
            "WHERE c.cost <= m * 60 GROUP BY d.id, d.name, m "
            "HAVING ST_Dimension(ST_ConcaveHull(ST_Collect(n.geom), 0.3)) = 2",
            (service, minutes),
        ).rowcount
        catch = conn.execute(
            "WITH territory AS (SELECT ST_Union(geom) g FROM patrimoine.commune), "
            "cells AS (SELECT (ST_Dump(ST_VoronoiPolygons(ST_Collect(geom)))).geom cell "
            "FROM analysis.network_node WHERE drivable), "
            "owned AS (SELECT nd.depot_id, c.cell FROM cells c "
            "JOIN analysis.network_node n ON ST_Within(n.geom, c.cell) "
            "JOIN nearest_depot nd ON nd.node = n.id) "
            "INSERT INTO analysis.depot_area (kind, depot_id, depot_name, minutes, service, geom) "
            "SELECT 'catchment', d.id, d.name, NULL, %s, ST_Multi(ST_CollectionExtract(ST_Intersection("
            "ST_Union(o.cell), t.g), 3)) FROM owned o JOIN patrimoine.depot d ON d.id = o.depot_id, territory t "
            "GROUP BY d.id, d.name, t.g",
            (service,),
        ).rowcount
    return {"isochrones": iso, "catchments": catch}
