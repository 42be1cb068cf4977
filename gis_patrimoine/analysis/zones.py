"""Service zones: one depot each, balanced on annual workload within a tolerance, contiguous, travel kept short.

The territory is cut into hexagonal cells (`size_m`, the hexagon's side), each with the service's annual
on-site hours (as in the workload grid) and its travel time from every candidate depot (pgr_drivingDistance
to the junction nearest the cell's centre). Zones start as network catchments (each cell to the depot nearest
by road), are made contiguous, then balanced: while a zone is outside its target (total hours × its share of
the crews) ± tolerance, the cell on its border whose move to a neighbouring, lighter zone costs the least
extra travel moves, never cutting the giving zone in two nor taking a depot's own cell. The status quo (each
commune its own zone and depot) is measured the same way, for comparison.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass

import numpy as np
import psycopg
import shapely
from psycopg import sql

from gis_patrimoine.analysis.areas import depot_costs, depots_serving
from gis_patrimoine.analysis.errors import AnalysisRefused
from gis_patrimoine.analysis.grid import hex_parts_sql
from gis_patrimoine.analysis.network import ensure_network


class CannotBalance(AnalysisRefused):
    """No contiguous zoning within the tolerance; the message says what to change."""


@dataclass
class Cells:
    geoms: list[shapely.Polygon]
    hours: np.ndarray  # (cells,)
    cost: np.ndarray  # (depots, cells) seconds
    neighbours: list[list[int]]
    communes: list[str | None]  # commune holding the cell's centre


def load_cells(conn: psycopg.Connection, service: str, size_m: float, depot_ids: list[int]) -> Cells:
    ensure_network(conn)  # the cells are tied to junctions: the network must be built (and current) first
    query = sql.SQL(
        "{parts}, w AS (SELECT k, sum(hours) AS hours FROM parts GROUP BY k) "
        "SELECT ST_AsBinary(h.geom), coalesce(w.hours, 0), n.id, "
        "  (SELECT c.insee FROM patrimoine.commune c WHERE ST_Intersects(c.geom, ST_Centroid(h.geom)) LIMIT 1) "
        "FROM hex h LEFT JOIN w ON w.k = h.k CROSS JOIN LATERAL (SELECT id FROM ("
        "  SELECT id, geom <-> ST_Centroid(h.geom) AS knn FROM analysis.network_node WHERE drivable "
        "  ORDER BY geom <-> ST_Centroid(h.geom) LIMIT 8) k "
        "  ORDER BY round(k.knn::numeric, 6), k.id LIMIT 1) n ORDER BY h.k"
    ).format(parts=hex_parts_sql(size_m, service))
    rows = conn.execute(query).fetchall()
    nodes, costs = depot_costs(conn, depot_ids)
    index = {n: i for i, n in enumerate(nodes)}
    geoms = [shapely.from_wkb(r[0]) for r in rows]
    centres = np.array([[g.centroid.x, g.centroid.y] for g in geoms])
    reach = np.sqrt(3) * size_m * 1.01
    neighbours = []
    for i in range(len(geoms)):
        d = np.hypot(*(centres - centres[i]).T)
        neighbours.append([int(j) for j in np.flatnonzero((d > 0) & (d <= reach))])
    cost = costs[:, [index[r[2]] for r in rows]]
    return Cells(geoms, np.array([float(r[1]) for r in rows]), cost, neighbours, [r[3] for r in rows])


def _component(members: set[int], start: int, neighbours: list[list[int]]) -> set[int]:
    seen, todo = {start}, deque([start])
    while todo:
        for j in neighbours[todo.popleft()]:
            if j in members and j not in seen:
                seen.add(j)
                todo.append(j)
    return seen


def balance(cells: Cells, crews: list[int], home: list[int], tolerance: float) -> np.ndarray:
    """Zone (depot index) of each cell. `home` is each depot's own cell."""
    n_depots, n = cells.cost.shape
    cost = np.where(np.isfinite(cells.cost), cells.cost, 1e9)
    zone = np.argmin(cost, axis=0)
    zone[home] = np.arange(n_depots)
    # contiguity: cells cut off from their depot's part go to the neighbouring zone nearest by road
    for _ in range(n):
        moved = False
        for d in range(n_depots):
            members = set(np.flatnonzero(zone == d).tolist())
            keep = _component(members, home[d], cells.neighbours)
            for i in sorted(members - keep):
                options = [zone[j] for j in cells.neighbours[i] if zone[j] != d]
                if options:
                    zone[i] = min(options, key=lambda e: cost[e, i])
                    moved = True
        if not moved:
            break
    target = cells.hours.sum() * np.array(crews) / sum(crews)
    homes = set(home)

    def excess(load_d: float, d: int) -> float:
        # squared relative deviation, counted in full beyond the tolerance: descending it moves work along
        # chains of zones (a light zone takes from a heavier neighbour, which takes from the next, ...)
        dev = abs(load_d - target[d]) / max(target[d], 1e-9)
        return dev**2 + 100 * max(0.0, dev - tolerance) ** 2

    for _ in range(50 * n):
        load = np.bincount(zone, weights=cells.hours, minlength=n_depots)
        if np.all(np.abs(load - target) <= tolerance * target):
            return _shorten(zone, load, target, tolerance, cells, cost, home, homes)
        best = None  # among moves that reduce the excess, the one adding the least travel
        for i in range(n):
            d = int(zone[i])
            if i in homes or cells.hours[i] <= 0:
                continue
            for e in {int(zone[j]) for j in cells.neighbours[i]} - {d}:
                before = excess(load[d], d) + excess(load[e], e)
                after = excess(load[d] - cells.hours[i], d) + excess(load[e] + cells.hours[i], e)
                if after >= before - 1e-12:
                    continue
                # most imbalance removed per extra minute of travel: zones stay compact around their depot
                key = ((after - before) / (1 + max(0.0, cost[e, i] - cost[d, i]) / 60), cost[e, i] - cost[d, i])
                if best is not None and key >= best[0]:
                    continue
                rest = set(np.flatnonzero(zone == d).tolist()) - {i}
                if _component(rest, home[d], cells.neighbours) != rest:
                    continue  # the giving zone would fall apart
                best = (key, i, e)
        if best is None:
            if not _reach_out(zone, load, target, tolerance, cells, home, homes):
                break
            continue
        zone[best[1]] = best[2]
    load = np.bincount(zone, weights=cells.hours, minlength=n_depots)
    worst = float(np.max(np.abs(load - target) / np.maximum(target, 1e-9)))
    raise CannotBalance(
        f"the zones cannot be balanced within ±{tolerance:.0%} (best reached: ±{worst:.0%}); widen the tolerance, "
        "move crews between depots, choose other candidate depots, or use smaller cells (--size)"
    )


def _shorten(zone, load, target, tolerance, cells: Cells, cost, home: list[int], homes: set[int]) -> np.ndarray:
    """Once balanced: move border cells to the neighbouring zone whose depot is nearer by road, as long as
    both zones stay within the tolerance and whole — less travel, more compact zones."""
    low, high = (1 - tolerance) * target, (1 + tolerance) * target
    for _ in range(20 * len(zone)):
        best = None
        for i in range(len(zone)):
            d = int(zone[i])
            if i in homes:
                continue
            for e in {int(zone[j]) for j in cells.neighbours[i]} - {d}:
                gain = cost[d, i] - cost[e, i]
                if gain <= 0 or (best is not None and gain <= best[0]):
                    continue
                h = cells.hours[i]
                if load[d] - h < low[d] or load[e] + h > high[e]:
                    continue
                rest = set(np.flatnonzero(zone == d).tolist()) - {i}
                if _component(rest, home[d], cells.neighbours) != rest:
                    continue
                best = (gain, i, d, e)
        if best is None:
            return zone
        _, i, d, e = best
        zone[i] = e
        load[d] -= cells.hours[i]
        load[e] += cells.hours[i]
    return zone


def _reach_out(zone, load, target, tolerance, cells: Cells, home: list[int], homes: set[int]) -> bool:
    """When no single border cell helps: a zone short of work takes the path of cells leading to the nearest
    cell with work of a heavier zone (empty cells in between), if no giving zone falls apart. True if it did."""
    dev = (load - target) / np.maximum(target, 1e-9)
    for e in np.argsort(dev):
        if dev[e] >= -tolerance:
            break
        start = np.flatnonzero(zone == e).tolist()
        parent = {i: None for i in start}
        todo = deque(start)
        tried = 0
        while todo and tried < 50:
            i = todo.popleft()
            for j in cells.neighbours[i]:
                if j in parent or j in homes:
                    continue
                parent[j] = i
                if cells.hours[j] > 0 and dev[zone[j]] > dev[e]:
                    tried += 1
                    path, k = [], j
                    while zone[k] != e:
                        path.append(k)
                        k = parent[k]
                    trial = zone.copy()
                    trial[path] = e
                    if all(
                        _component(set(np.flatnonzero(trial == d).tolist()), home[d], cells.neighbours)
                        == set(np.flatnonzero(trial == d).tolist())
                        for d in {int(zone[p]) for p in path}
                    ):
                        zone[:] = trial
                        return True
                todo.append(j)
    return False


def _zone_rows(cells, zone_of, depots, target, srid, conn, variant, run_id, service):
    rows = []
    for d, (did, name, crews) in enumerate(depots):
        members = np.flatnonzero(zone_of == d)
        if len(members) == 0:
            continue
        hours = float(cells.hours[members].sum())
        busy = [i for i in members if cells.hours[i] > 0 and np.isfinite(cells.cost[d, i])]
        longest = float(max((cells.cost[d, i] for i in busy), default=0.0)) / 60
        geom = shapely.union_all([cells.geoms[i] for i in members])
        shares = conn.execute(
            "SELECT c.insee, round((ST_Area(ST_Intersection(c.geom, z.g)) / ST_Area(c.geom))::numeric, 3)::float "
            "FROM patrimoine.commune c, (SELECT ST_GeomFromWKB(%s, %s) g) z WHERE ST_Intersects(c.geom, z.g) "
            "AND ST_Area(ST_Intersection(c.geom, z.g)) > 0.001 * ST_Area(c.geom) ORDER BY 2 DESC",
            (shapely.to_wkb(geom), srid),
        ).fetchall()
        rows.append(
            (
                run_id,
                variant,
                service,
                did,
                name,
                crews,
                hours,
                float(target[d]),
                float(round(100 * (hours - target[d]) / target[d], 2)) if target[d] else 0.0,
                round(longest, 2),
                [c for c, _ in shares],
                json.dumps(dict(shares)),
                shapely.to_wkb(geom),
                srid,
            )
        )
    return rows


def zones(
    conn: psycopg.Connection,
    service: str,
    size_m: float = 1000.0,
    tolerance: float = 0.10,
    depot_ids: list[int] | None = None,
) -> dict:
    """Compute balanced zones and the status quo for a service; store both under one run; return a summary."""
    depots = depots_serving(conn, service)
    if depot_ids:
        depots = [d for d in depots if d[0] in depot_ids]
        if missing := set(depot_ids) - {d[0] for d in depots}:
            raise CannotBalance(f"depot(s) {sorted(missing)} do not serve {service} or have no crew")
    if not depots:
        raise CannotBalance(f"no depot with crews serves {service}; add {service} to a depot's services")
    ids = [d[0] for d in depots]
    cells = load_cells(conn, service, size_m, ids)
    if cells.hours.sum() <= 0:
        raise CannotBalance(f"no {service} work in the territory: import its assets first")
    srid = int(conn.execute("SELECT value FROM patrimoine_sys.setting WHERE key = 'srid'").fetchone()[0])
    positions = conn.execute(
        "SELECT id, ST_X(geom), ST_Y(geom), commune_insee FROM patrimoine.depot WHERE id = ANY(%s)", (ids,)
    ).fetchall()
    where = {r[0]: (r[1], r[2], r[3]) for r in positions}
    centres = np.array([[g.centroid.x, g.centroid.y] for g in cells.geoms])
    home_of = []
    for did in ids:
        x, y, _ = where[did]
        home_of.append(int(np.argmin(np.hypot(centres[:, 0] - x, centres[:, 1] - y))))
    # depots in one cell (a municipal and an intercommunal centre side by side) act as one site
    sites: dict[int, list[int]] = {}
    for k, cell in enumerate(home_of):
        sites.setdefault(cell, []).append(k)
    groups = list(sites.values())
    home = [home_of[g[0]] for g in groups]
    entities = [(ids[g[0]], " + ".join(depots[k][1] for k in g), sum(depots[k][2] for k in g)) for g in groups]
    cells.cost = np.vstack([cells.cost[g].min(axis=0) for g in groups])
    crews = [e[2] for e in entities]
    target = cells.hours.sum() * np.array(crews) / sum(crews)
    balanced = balance(cells, crews, home, tolerance)
    # status quo: each commune's cells to the commune's own depot (the nearest serving one if it has none)
    own: dict[str, int] = {}
    for s_index, g in enumerate(groups):
        commune = where[ids[g[0]]][2]
        if commune not in own or crews[s_index] > crews[own[commune]]:
            own[commune] = s_index
    status = np.array([own[c] if c in own else int(np.argmin(cells.cost[:, i])) for i, c in enumerate(cells.communes)])
    depots = entities
    run_id = conn.execute("SELECT nextval('analysis.service_zone_run')").fetchone()[0]
    rows = _zone_rows(cells, balanced, depots, target, srid, conn, "balanced", run_id, service)
    rows += _zone_rows(cells, status, depots, target, srid, conn, "status_quo", run_id, service)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO analysis.service_zone (run_id, variant, service, depot_id, depot_name, crews, hours, "
            "target_hours, deviation_pct, longest_travel_min, communes, commune_shares, geom) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, ST_Multi(ST_GeomFromWKB(%s, %s)))",
            rows,
        )
    keys = [
        "depot_id",
        "depot_name",
        "crews",
        "hours",
        "target_hours",
        "deviation_pct",
        "longest_travel_min",
        "communes",
        "commune_shares",
    ]
    summary = {"run_id": run_id, "service": service, "size_m": size_m, "tolerance": tolerance, "notes": []}
    with_work = {c for c, h in zip(cells.communes, cells.hours, strict=True) if c and h > 0}
    if without := sorted(with_work - set(own)):  # said, not silent: these communes are pooled in both variants
        summary["notes"].append(
            f"commune(s) {', '.join(without)} have work but no candidate depot: in the status quo too their cells go "
            "to the nearest candidate, so both variants pool them; add their depots with --depot to compare"
        )
    for variant in ("balanced", "status_quo"):
        summary[variant] = [
            {**dict(zip(keys, r[3:12], strict=True)), "commune_shares": json.loads(r[11])}
            for r in rows
            if r[1] == variant
        ]
    return summary
