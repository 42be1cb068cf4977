"""Equipment: what each depot holds, the days a year its work needs each machine, status quo vs pooled; and
the joint-purchase view of assets due for renewal across communes.

A machine-day is a shift of work that needs the machine (the catalogue says which equipment each activity
uses). Status quo: a commune's work falls on its own depots (the nearest serving one if it has none). Pooled:
each asset's work falls on the depot nearest to it by road, and machines of one type are shared across depots,
so the units needed are the total machine-days over the days a machine works in a year.
"""

from __future__ import annotations

import math

import numpy as np
import psycopg
from psycopg import sql

from gis_patrimoine.analysis.areas import asset_junctions, depot_costs
from gis_patrimoine.analysis.params import load as load_params
from gis_patrimoine.analysis.selection import select_communes
from gis_patrimoine.catalogue import get_catalogue


def _work_by_equipment(conn: psycopg.Connection) -> list[tuple[str, str, int, int, float]]:
    """(equipment, commune, source, target, hours a year) per asset and activity that needs equipment, the work
    placed at the ends of the segment the asset is worked from, as for rounds, zones and opportunities."""
    communes = select_communes(conn)
    work = []
    for layer in get_catalogue().asset_layers:
        if layer.maintenance is None:
            continue
        for act in layer.maintenance.activities:
            if act.equipment:
                work += [
                    (act.equipment, commune, source, target, float(units) * act.minutes * act.visits / 60.0)
                    for _, commune, source, target, units in asset_junctions(conn, layer, act, communes)
                ]
    return work


def equipment(conn: psycopg.Connection) -> dict:
    """Per equipment type: units held, machine-days needed, utilisation, status quo vs pooled, units shareable."""
    params = load_params(conn)
    depots = conn.execute(
        "SELECT d.id, d.name, d.commune_insee, d.services FROM patrimoine.depot d WHERE crews > 0 ORDER BY id"
    ).fetchall()
    ids = [d[0] for d in depots]
    held = {
        (r[0], r[1]): r[2]
        for r in conn.execute("SELECT depot_id, equipment_type, quantity FROM patrimoine.depot_equipment")
    }
    nodes, costs = depot_costs(conn, ids)
    index = {n: i for i, n in enumerate(nodes)}
    own = {}
    for k, depot in enumerate(depots):
        own.setdefault(depot[2], []).append(k)
    need_sq: dict[tuple[int, str], float] = {}
    need_pooled: dict[tuple[int, str], float] = {}
    for eq, commune, source, target, hours in _work_by_equipment(conn):
        column = np.minimum(costs[:, index[source]], costs[:, index[target]])  # by the nearer end
        mine = own.get(commune) or [int(np.argmin(column))]
        k_sq = min(mine, key=lambda k: column[k])
        k_pooled = int(np.argmin(column))
        days = float(hours) / params.shift_hours
        need_sq[(ids[k_sq], eq)] = need_sq.get((ids[k_sq], eq), 0.0) + days
        need_pooled[(ids[k_pooled], eq)] = need_pooled.get((ids[k_pooled], eq), 0.0) + days
    year = params.working_days_per_year
    types = sorted({eq for _, eq in [*held, *need_sq]})
    out = []
    for eq in types:
        units = sum(q for (_, t), q in held.items() if t == eq)
        days = sum(v for (_, t), v in need_sq.items() if t == eq)
        short = sum(max(0, math.ceil(v / year) - held.get((d, eq), 0)) for (d, t), v in need_sq.items() if t == eq)
        needed_pooled = math.ceil(days / year) if days else 0
        out.append(
            {
                "equipment": eq,
                "units_held": units,
                "machine_days": round(days, 1),
                "utilisation_status_quo": round(days / (units * year), 3) if units else None,
                "units_lacking_status_quo": short,  # machines a depot needs but does not hold
                "units_needed_pooled": needed_pooled,
                "units_shareable": max(0, units - needed_pooled),
                "utilisation_pooled": round(days / (needed_pooled * year), 3) if needed_pooled else None,
                "per_depot": [
                    {
                        "depot_id": d,
                        "held": held.get((d, eq), 0),
                        "days_status_quo": round(need_sq.get((d, eq), 0.0), 1),
                        "days_pooled": round(need_pooled.get((d, eq), 0.0), 1),
                    }
                    for d in ids
                    if held.get((d, eq)) or need_sq.get((d, eq)) or need_pooled.get((d, eq))
                ],
            }
        )
    return {"working_days_per_year": year, "shift_hours": params.shift_hours, "equipment": out}


RENEWAL = {  # layer -> (type attribute, types due for renewal, age in years): the joint-purchase questions
    "street_light": ("lamp_type", ["hps", "lps", "mercury", "metal_halide", "fluorescent"], 20),
}


def renewals(conn: psycopg.Connection, age: int | None = None, year: int | None = None) -> list[dict]:
    """Assets due for renewal by type across communes (e.g. sodium lamps older than 20 years)."""
    year = year or int(conn.execute("SELECT extract(year FROM now())").fetchone()[0])
    out = []
    for layer_name, (field, types, default_age) in RENEWAL.items():
        layer = get_catalogue().layer(layer_name)
        limit = year - (age or default_age)
        rows = conn.execute(
            sql.SQL(
                "SELECT {f}, commune_insee, count(*) FROM {t} WHERE {f} = ANY(%s) AND installed_year <= %s "
                "GROUP BY 1, 2 ORDER BY 1, 2"
            ).format(f=sql.Identifier(field), t=layer.qualified),
            (types, limit),
        ).fetchall()
        by_type: dict[str, dict] = {}
        for kind, commune, n in rows:
            entry = by_type.setdefault(
                kind,
                {"layer": layer.collection, "type": kind, "installed_before": limit + 1, "total": 0, "communes": {}},
            )
            entry["total"] += n
            entry["communes"][commune] = n
        out += sorted(by_type.values(), key=lambda e: -e["total"])
    return out
