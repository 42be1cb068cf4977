"""Where does pooling make sense? Pairs of neighbouring communes ranked by what pooling them saves, per service.

Candidates come from the network: an asset whose own commune's depot is farther by road than a depot of the
neighbouring commune is a sign (the assets near the boundary that drive the saving). The candidate pairs with
the most such travel are then measured, not estimated: their rounds are planned alone and pooled (as in
`scenarios`), and the pairs are ranked by the crew hours a year the rounds save.
"""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql

from gis_patrimoine.analysis.areas import asset_junctions, depot_costs, depots_serving
from gis_patrimoine.analysis.scenarios import commune_names, compare
from gis_patrimoine.analysis.selection import NothingToDo, pick_activity, select_communes
from gis_patrimoine.catalogue import get_catalogue


def candidates(conn: psycopg.Connection, service: str, activity: str | None) -> list[dict]:
    """Neighbouring pairs with assets nearer (by road) to the other commune's depot, most travel first."""
    layer, act = pick_activity(get_catalogue(), service, activity)
    depots = depots_serving(conn, service)
    ids = [d[0] for d in depots]
    commune_of = dict(conn.execute("SELECT id, commune_insee FROM patrimoine.depot WHERE id = ANY(%s)", (ids,)))
    nodes, costs = depot_costs(conn, ids)
    index = {n: i for i, n in enumerate(nodes)}
    rows = asset_junctions(conn, layer, act, select_communes(conn))
    neighbours = {
        (a, b)
        for a, b in conn.execute(
            "SELECT a.insee, b.insee FROM patrimoine.commune a JOIN patrimoine.commune b "
            "ON a.insee <> b.insee AND ST_Intersects(a.geom, b.geom)"
        )
    }
    pairs: dict[tuple[str, str], dict] = {}
    for aid, commune, source, target, _ in rows:
        column = np.minimum(costs[:, index[source]], costs[:, index[target]])  # by the nearer end
        own = [k for k, d in enumerate(ids) if commune_of[d] == commune]
        if not own or not np.isfinite(column).any():
            continue
        best = int(np.argmin(column))
        other = commune_of[ids[best]]
        gain = float(min(column[k] for k in own) - column[best])
        if other != commune and (commune, other) in neighbours and gain > 0:
            key = tuple(sorted((commune, other)))
            entry = pairs.setdefault(key, {"communes": list(key), "assets": [], "approach_s": 0.0})
            entry["assets"].append(aid)
            entry["approach_s"] += gain
    return sorted(pairs.values(), key=lambda p: -p["approach_s"])


def rank(
    conn: psycopg.Connection, service: str, activity: str | None = None, top: int = 6, iterations: int = 300
) -> list[dict]:
    """The `top` candidate pairs, measured by their rounds alone vs pooled, ranked by crew hours saved a year."""
    layer, act = pick_activity(get_catalogue(), service, activity)
    names = commune_names(conn)
    measured = []
    for pair in candidates(conn, service, act.name)[:top]:
        try:
            c = compare(conn, service, act.name, pair["communes"], iterations=iterations)
        except NothingToDo:
            continue
        alone, pooled = c.alone_total, c.pooled_total
        hours = (alone.hours_on_site + alone.hours_travel) - (pooled.hours_on_site + pooled.hours_travel)
        measured.append(
            {
                "service": service,
                "activity": act.name,
                "communes": pair["communes"],
                "label": " + ".join(names.get(x, x) for x in pair["communes"]),
                "assets": pair["assets"],
                "hours_saved": round(hours, 2),
                "km_saved": round(alone.km - pooled.km, 2),
                "layer": layer,
            }
        )
    measured.sort(key=lambda m: -m["hours_saved"])
    for k, m in enumerate(measured, start=1):
        m["rank"] = k
    return measured


def store(conn: psycopg.Connection, ranked: list[dict], service: str) -> int:
    with conn.transaction():
        conn.execute("DELETE FROM analysis.opportunity WHERE service = %s", (service,))
        for m in ranked:
            conn.execute(
                sql.SQL(
                    "INSERT INTO analysis.opportunity (service, activity, rank, communes, label, assets, hours_saved, "
                    "km_saved, asset_ids, geom) SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "ST_Multi(ST_Collect(CASE WHEN GeometryType(geom) LIKE '%%POINT' THEN geom "
                    "ELSE ST_PointOnSurface(geom) END)) FROM {} WHERE id = ANY(%s)"
                ).format(m["layer"].qualified),
                (
                    m["service"],
                    m["activity"],
                    m["rank"],
                    m["communes"],
                    m["label"],
                    len(m["assets"]),
                    m["hours_saved"],
                    m["km_saved"],
                    m["assets"],
                    m["assets"],
                ),
            )
    return len(ranked)
