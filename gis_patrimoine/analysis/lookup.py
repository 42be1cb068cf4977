"""Which depot and round serve a place or an asset: the route planner's question, answered from stored plans.

An asset is found in the stops that list it; a place (longitude, latitude) by the nearest stop. The latest
plan of each service and activity answers unless a plan is named.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from gis_patrimoine.catalogue import Layer, get_catalogue


@dataclass(frozen=True)
class Target:
    """What is asked about: a place (lon, lat, WGS84) or an asset of a layer."""

    lon: float | None = None
    lat: float | None = None
    layer: Layer | None = None
    asset_id: int | None = None


def target(
    lon: float | None = None, lat: float | None = None, collection: str | None = None, asset_id: int | None = None
) -> Target:
    """The target of a lookup, checked once for the round and the zone lookups (KeyError: unknown collection)."""
    if asset_id is not None and collection:
        return Target(layer=get_catalogue().layer(collection), asset_id=asset_id)
    if lon is None or lat is None:
        raise ValueError("give lon and lat, or collection and id")
    return Target(lon=lon, lat=lat)


def lookup(
    conn: psycopg.Connection, where: Target, service: str | None = None, plan_id: int | None = None
) -> list[dict]:
    """One answer per plan considered (latest per service and activity): round, depot, day, crew, stop."""
    layer = where.layer
    if layer is not None and layer.maintenance:
        service = service or layer.maintenance.service
    args = {
        "layer": layer.collection if layer else None,
        "asset": where.asset_id,
        "service": service,
        "plan": plan_id,
        "lon": where.lon,
        "lat": where.lat,
    }
    plans = conn.execute(
        "SELECT DISTINCT ON (service, activity) id FROM analysis.round_plan "
        "WHERE (%(plan)s::bigint IS NULL OR id = %(plan)s) AND (%(service)s::text IS NULL OR service = %(service)s) "
        "ORDER BY service, activity, id DESC",
        args,
    ).fetchall()
    answers = []
    for (pid,) in plans:
        row = conn.execute(
            "SELECT p.id, p.service, p.activity, r.number, r.label, r.depot_id, r.depot_name, r.day, r.crew, s.seq, "
            "s.label, s.arrival_min, "
            "CASE WHEN %(lon)s::float8 IS NULL THEN 0 ELSE ST_Distance(s.geom, ST_Transform("
            "ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), ST_SRID(s.geom))) END AS dist "
            "FROM analysis.round_stop s JOIN analysis.round r ON r.plan_id = s.plan_id AND r.number = s.round_number "
            "JOIN analysis.round_plan p ON p.id = s.plan_id "
            "WHERE s.plan_id = %(pid)s AND (%(asset)s::bigint IS NULL "
            "OR (s.layer = %(layer)s AND %(asset)s::bigint = ANY(s.asset_ids))) "
            "ORDER BY s.geom <-> CASE WHEN %(lon)s::float8 IS NULL THEN s.geom ELSE ST_Transform("
            "ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), ST_SRID(s.geom)) END LIMIT 1",
            {**args, "pid": pid},
        ).fetchone()
        if row:
            keys = [
                "plan_id",
                "service",
                "activity",
                "round",
                "round_label",
                "depot_id",
                "depot_name",
                "day",
                "crew",
                "stop",
                "stop_label",
                "arrival_min",
                "distance_m",
            ]
            answers.append(dict(zip(keys, row, strict=True)))
    return answers


def zone_lookup(conn: psycopg.Connection, where: Target, service: str | None = None) -> list[dict]:
    """The service zone (latest balanced run per service) holding a place or an asset, with its depot."""
    if where.layer is not None:
        row = conn.execute(
            sql.SQL("SELECT ST_PointOnSurface(geom) FROM {} WHERE id = %s").format(where.layer.qualified),
            (where.asset_id,),
        ).fetchone()
        if row is None:
            raise ValueError(f"no {where.layer.collection} with id {where.asset_id}")
        point = row[0]
    else:
        point = conn.execute(
            "SELECT ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), value::int) FROM patrimoine_sys.setting "
            "WHERE key = 'srid'",
            (where.lon, where.lat),
        ).fetchone()[0]
    rows = conn.execute(
        "SELECT z.service, z.run_id, z.depot_id, z.depot_name, z.crews, z.hours FROM analysis.service_zone z "
        "JOIN (SELECT service, max(run_id) run_id FROM analysis.service_zone GROUP BY service) latest "
        "USING (service, run_id) WHERE z.variant = 'balanced' AND ST_Intersects(z.geom, %s::geometry) "
        "AND (%s::text IS NULL OR z.service = %s) ORDER BY z.service",
        (point, service, service),
    ).fetchall()
    keys = ["service", "run_id", "depot_id", "depot_name", "crews", "zone_hours"]
    return [dict(zip(keys, r, strict=True)) for r in rows]
