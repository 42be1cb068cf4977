"""Workload density on a hexagonal grid, across commune boundaries.

Each asset's annual on-site hours (catalogue activities) are spread over the cells it lies in: a point goes to
its cell, a road or an area in proportion to its length or area in each cell. Cells are ST_HexagonGrid's,
`size_m` being the hexagon's side, over the communes' extent; only cells holding work are kept.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from gis_patrimoine.analysis.workload import units_sql
from gis_patrimoine.catalogue import Catalogue, get_catalogue


def asset_hours_sql(catalogue: Catalogue, service: str | None = None) -> sql.Composable:
    """(layer, id, service, hours per year, geom) of every asset with maintenance work."""
    parts = []
    for layer in catalogue.asset_layers:
        if layer.maintenance is None or (service and layer.maintenance.service != service):
            continue
        terms = []
        for act in layer.maintenance.activities:
            applies = (
                sql.SQL(" AND ").join(
                    sql.SQL("{} = ANY({})").format(sql.Identifier(f), sql.Literal(c)) for f, c in act.where.items()
                )
                if act.where
                else sql.SQL("true")
            )
            terms.append(
                sql.SQL("CASE WHEN {a} THEN {u} * {m} * {v} / 60.0 ELSE 0 END").format(
                    a=applies, u=units_sql(act), m=sql.Literal(act.minutes), v=sql.Literal(act.visits)
                )
            )
        parts.append(
            sql.SQL("SELECT {l} AS layer, id, {s} AS service, ({h}) AS hours, geom FROM {t}").format(
                l=sql.Literal(layer.collection),
                s=sql.Literal(layer.maintenance.service),
                h=sql.SQL(" + ").join(terms),
                t=layer.qualified,
            )
        )
    return sql.SQL(" UNION ALL ").join(parts)


def hex_parts_sql(size_m: float, service: str | None = None) -> sql.Composable:
    """A WITH clause, the one way work is put on cells: `hex (k, geom)` are the hexagons that meet the
    territory; `parts (k, cell, service, hours, share)` the share of each asset's annual hours in each cell — a
    point in one cell only (on an edge: the cell whose centre is nearest), a road or an area by its length or
    area in the cell. The workload grid and the service zones both read it."""
    return sql.SQL(
        "WITH a AS ({assets}), t AS (SELECT ST_Union(geom) AS g FROM patrimoine.commune), "
        "hex AS (SELECT row_number() OVER () AS k, ST_SetSRID(h.geom, ST_SRID(t.g)) AS geom "
        "  FROM t, ST_HexagonGrid({size}, t.g) h WHERE ST_Intersects(ST_SetSRID(h.geom, ST_SRID(t.g)), t.g)), "
        "points AS (SELECT DISTINCT ON (a.layer, a.id) h.k, h.geom AS cell, a.service, a.hours, 1.0 AS share "
        "  FROM a JOIN hex h ON ST_Intersects(a.geom, h.geom) WHERE GeometryType(a.geom) LIKE '%%POINT' "
        "  ORDER BY a.layer, a.id, ST_Distance(ST_Centroid(h.geom), a.geom)), "
        "spread AS (SELECT h.k, h.geom AS cell, a.service, f.share * a.hours AS hours, f.share "
        "  FROM a JOIN hex h ON ST_Intersects(a.geom, h.geom) CROSS JOIN LATERAL (SELECT CASE "
        "    WHEN GeometryType(a.geom) LIKE '%%LINESTRING' "
        "    THEN ST_Length(ST_Intersection(a.geom, h.geom)) / nullif(ST_Length(a.geom), 0) "
        "    ELSE ST_Area(ST_Intersection(a.geom, h.geom)) / nullif(ST_Area(a.geom), 0) END AS share) f "
        "  WHERE GeometryType(a.geom) NOT LIKE '%%POINT'), "
        "parts AS (SELECT * FROM points UNION ALL SELECT * FROM spread)"
    ).format(assets=asset_hours_sql(get_catalogue(), service), size=sql.Literal(float(size_m)))


def store_grid(conn: psycopg.Connection, size_m: float, service: str | None = None) -> int:
    """Replace the grid of this cell size (and service, or all services); returns the number of cells."""
    if not 50 <= size_m <= 20_000:
        raise ValueError(f"cell size {size_m:g} m: choose between 50 and 20,000 m")
    query = sql.SQL(
        "{parts} INSERT INTO analysis.workload_hex (size_m, service, hours, assets, communes, geom) "
        "SELECT {size}, p.service, sum(p.hours), sum(p.share), "
        "  (SELECT coalesce(array_agg(c.insee ORDER BY c.insee), '{{}}') FROM patrimoine.commune c "
        "   WHERE ST_Intersects(c.geom, p.cell)), p.cell "
        "FROM parts p WHERE p.hours > 0 GROUP BY p.cell, p.service"
    ).format(parts=hex_parts_sql(size_m, service), size=sql.Literal(float(size_m)))
    with conn.transaction():
        conn.execute(
            "DELETE FROM analysis.workload_hex WHERE size_m = %s AND (%s::text IS NULL OR service = %s)",
            (size_m, service, service),
        )
        return conn.execute(query).rowcount
