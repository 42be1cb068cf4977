"""Statistics per commune and service: counts, lengths, areas, annual on-site hours, and per inhabitant.

Counts, lengths and areas are read from the inventory, hours from the workload model (catalogue), so the
figures of a director's table and of the rounds agree. A service's size is its main layer's (road km, green
space ha…); its hours are all its layers' (the roads service empties the bins and cleans the gullies too), so
each row also counts the assets of every layer of the service (`assets_by_layer`).
"""

from __future__ import annotations

import psycopg

from gis_patrimoine.analysis.workload import totals, workload
from gis_patrimoine.catalogue import get_catalogue

MEASURES = {  # service -> (table, measure SQL, unit)
    "lighting": ("street_light", "count(*)", "lights"),
    "roads": ("road", "sum(length_m) / 1000", "km"),
    "green_spaces": ("green_space", "sum(ST_Area(geom)) / 10000", "ha"),
    "buildings": ("building", "sum(ST_Area(geom))", "m² footprint"),
}


def statistics(conn: psycopg.Connection) -> list[dict]:
    """One row per commune and service: assets, size, annual hours, and each per 1,000 inhabitants."""
    communes = conn.execute("SELECT insee, name, population FROM patrimoine.commune ORDER BY name").fetchall()
    hours = totals(workload(conn))
    by_layer: dict[tuple[str, str], dict[str, int]] = {}  # (commune, service) -> {collection: assets}
    for layer in get_catalogue().asset_layers:
        if layer.maintenance:
            counts = conn.execute(
                f"SELECT commune_insee, count(*) FROM patrimoine.{layer.table} GROUP BY 1"  # noqa: S608 (catalogue)
            ).fetchall()
            for insee, n in counts:
                by_layer.setdefault((insee, layer.maintenance.service), {})[layer.collection] = n
    rows = []
    for service, (table, measure, unit) in MEASURES.items():
        found = {
            r[0]: (r[1], float(r[2] or 0))
            for r in conn.execute(
                f"SELECT commune_insee, count(*), {measure} FROM patrimoine.{table} GROUP BY 1"  # noqa: S608 (fixed)
            )
        }
        for insee, name, population in communes:
            count, size = found.get(insee, (0, 0.0))
            h = hours.get((insee, service), 0.0)
            per = 1000 / population if population else None
            rows.append(
                {
                    "insee": insee,
                    "name": name,
                    "population": population,
                    "service": service,
                    "assets": count,
                    "assets_by_layer": by_layer.get((insee, service), {}),
                    "size": round(size, 3),
                    "unit": unit,
                    "hours_per_year": round(h, 1),
                    "assets_per_1000": round(count * per, 2) if per else None,
                    "hours_per_1000": round(h * per, 2) if per else None,
                }
            )
    return rows
