"""The workload model: on-site hours per year of every maintenance activity, from the catalogue.

Each layer's `maintenance.activities` says how long one visit takes per unit (an item, 100 m of road,
100 m² of green space, ...), how many visits a year, and to which assets it applies (`where` on code
attributes). The database does the sums, per asset, then per commune and service.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from gis_patrimoine.catalogue import Activity, Catalogue, Layer, get_catalogue

# How many units an asset counts for, as SQL over its row: the geometry's measure, and the divisor of the unit.
MEASURE = {
    "item": ("1", 1),
    "m": ("ST_Length(geom)", 1),
    "100m": ("ST_Length(geom)", 100),
    "km": ("ST_Length(geom)", 1000),
    "m2": ("ST_Area(geom)", 1),
    "100m2": ("ST_Area(geom)", 100),
    "ha": ("ST_Area(geom)", 10000),
}


def units_sql(activity: Activity) -> sql.Composable:
    """The units of work an asset counts for in this activity: its `quantity` attribute when the catalogue names
    one and the row has it (a building's floor area, not its footprint), else its geometry's length or area."""
    measure, divisor = MEASURE[activity.per]
    if activity.quantity and activity.per != "item":
        return sql.SQL("coalesce({q}, {m}) / {d}").format(
            q=sql.Identifier(activity.quantity), m=sql.SQL(measure), d=sql.Literal(divisor)
        )
    return sql.SQL("{m} / {d}").format(m=sql.SQL(measure), d=sql.Literal(divisor))


@dataclass(frozen=True)
class WorkloadRow:
    commune: str
    service: str
    layer: str
    activity: str
    assets: int
    visits_per_year: float
    hours_per_year: float


def activity_sql(layer: Layer, activity: Activity, communes: list[str] | None = None) -> sql.Composable:
    """commune, number of assets, and on-site hours per year of one activity, per commune."""
    conditions = [
        sql.SQL("{} = ANY({})").format(sql.Identifier(field), sql.Literal(codes))
        for field, codes in activity.where.items()
    ]
    if communes:
        conditions.append(sql.SQL("commune_insee = ANY({})").format(sql.Literal(communes)))
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    return sql.SQL(
        "SELECT commune_insee, count(*), sum({units}) * {minutes} * {visits} / 60.0 FROM {table}{where} "
        "GROUP BY commune_insee"
    ).format(
        units=units_sql(activity),
        minutes=sql.Literal(activity.minutes),
        visits=sql.Literal(activity.visits),
        table=sql.Identifier("patrimoine", layer.table),
        where=where,
    )


def workload(
    conn: psycopg.Connection,
    catalogue: Catalogue | None = None,
    communes: list[str] | None = None,
    service: str | None = None,
) -> list[WorkloadRow]:
    """Annual on-site hours per commune, service, layer and activity (travel comes with the rounds)."""
    catalogue = catalogue or get_catalogue()
    rows = []
    for layer in catalogue.asset_layers:
        if layer.maintenance is None or (service and layer.maintenance.service != service):
            continue
        for activity in layer.maintenance.activities:
            for commune, assets, hours in conn.execute(activity_sql(layer, activity, communes)):
                rows.append(
                    WorkloadRow(
                        commune,
                        layer.maintenance.service,
                        layer.collection,
                        activity.name,
                        assets,
                        activity.visits,
                        float(hours or 0.0),
                    )
                )
    return sorted(rows, key=lambda r: (r.commune, r.service, r.layer, r.activity))


def totals(rows: list[WorkloadRow]) -> dict[tuple[str, str], float]:
    """Hours per (commune, service)."""
    out: dict[tuple[str, str], float] = {}
    for row in rows:
        out[(row.commune, row.service)] = out.get((row.commune, row.service), 0.0) + row.hours_per_year
    return out
