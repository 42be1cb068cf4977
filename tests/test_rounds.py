"""Rounds on small networks built here, against optima found by brute force over an independent graph (networkx).

The grid: 3 × 3 junctions 400 m apart, every street at its own speed (no ties between paths), one one-way
street, and a lane that no road joins. Lights stand beside the streets, more than `stop_spread_m` apart so
that each is its own stop; the depot sits on a street near a corner.
"""

from __future__ import annotations

import itertools

import networkx as nx
import psycopg
import pytest
import shapely

from gis_patrimoine.analysis.access import Unreachable
from gis_patrimoine.analysis.areas import depot_nodes
from gis_patrimoine.analysis.rounds import DepotProblem, NothingToDo, RoundRequest, plan_rounds, store
from gis_patrimoine.analysis.vrp import RoundsDoNotFit

X0, Y0, STEP = 500000.0, 6700000.0, 400.0
SQUARE = "MULTIPOLYGON(((499000 6699000, 502000 6699000, 502000 6702000, 499000 6702000, 499000 6699000)))"


def _grid_roads() -> list[tuple[str, str, int, str, str]]:
    """(source_id, class, speed km/h, oneway, wkt)"""
    roads = []
    speed = iter([31, 37, 43, 29, 35, 47, 33, 41, 27, 39, 45, 30])
    for i in range(3):
        for j in range(3):
            x, y = X0 + i * STEP, Y0 + j * STEP
            if i < 2:
                roads.append((f"h{i}{j}", "street", next(speed), "no", f"LINESTRING({x} {y}, {x + STEP} {y})"))
            if j < 2:
                oneway = "forward" if (i, j) == (1, 0) else "no"
                roads.append((f"v{i}{j}", "street", next(speed), oneway, f"LINESTRING({x} {y}, {x} {y + STEP})"))
    roads.append(("lane", "lane", 20, "no", f"LINESTRING({X0 + 1500} {Y0 + 1500}, {X0 + 1600} {Y0 + 1500})"))
    return roads


ROADS = _grid_roads()
# lights: (x, y) beside the streets, 10 m off the road
LIGHTS = [
    (X0 + 150, Y0 - 10),
    (X0 + 410, Y0 + 250),
    (X0 + 700, Y0 + 390),
    (X0 + 790, Y0 + 600),
    (X0 + 300, Y0 + 810),
    (X0 - 10, Y0 + 500),
    (X0 + 520, Y0 + 410),
]
DEPOT = (X0 + 60, Y0 + 8)


def _insert(conn: psycopg.Connection, lights: list[tuple[float, float]], depot: tuple[float, float] = DEPOT) -> None:
    conn.execute(
        "INSERT INTO patrimoine.commune (insee, name, geom) VALUES ('53999', 'Grille', ST_GeomFromText(%s, 2154))",
        (SQUARE,),
    )
    for sid, road_class, speed, oneway, wkt in ROADS:
        conn.execute(
            "INSERT INTO patrimoine.road (commune_insee, source, source_id, name, road_class, speed_kmh, oneway, geom) "
            "VALUES ('53999', 't', %s, %s, %s, %s, %s, ST_GeomFromText(%s, 2154))",
            (sid, f"Rue {sid}", road_class, speed, oneway, wkt),
        )
    for k, (x, y) in enumerate(lights):
        conn.execute(
            "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) "
            "VALUES ('53999', 't', %s, 'led', ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
            (f"l{k}", x, y),
        )
    conn.execute(
        "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) "
        "VALUES ('53999', 't', 'd', 'Atelier', '{lighting,roads}', 1, ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
        depot,
    )
    conn.commit()


def independent_graph(points: list[tuple[float, float]]) -> tuple[nx.DiGraph, list[tuple]]:
    """The roads as a directed graph (seconds, metres), each point inserted where it projects on its nearest road."""
    lines = [(shapely.from_wkt(wkt), speed, oneway) for _, _, speed, oneway, wkt in ROADS]
    cuts: dict[int, list[tuple[float, tuple]]] = {}
    names = []
    for k, (x, y) in enumerate(points):
        p = shapely.Point(x, y)
        r = min(range(len(lines)), key=lambda i: lines[i][0].distance(p))
        cuts.setdefault(r, []).append((lines[r][0].project(p), ("p", k)))
        names.append(("p", k))
    g = nx.DiGraph()
    for r, (line, speed, oneway) in enumerate(lines):
        a, b = line.coords[0], line.coords[-1]
        chain = [(0.0, a), *sorted(cuts.get(r, [])), (line.length, b)]
        for (d0, n0), (d1, n1) in itertools.pairwise(chain):
            metres = d1 - d0
            seconds = metres / (speed / 3.6)
            if oneway != "backward":
                g.add_edge(n0, n1, seconds=seconds, metres=metres)
            if oneway != "forward":
                g.add_edge(n1, n0, seconds=seconds, metres=metres)
    return g, names


def brute_force_tour(g: nx.DiGraph, depot: tuple, stops: list[tuple]) -> float:
    dist = {a: nx.single_source_dijkstra_path_length(g, a, weight="seconds") for a in [depot, *stops]}
    tours = ([depot, *order, depot] for order in itertools.permutations(stops))
    return min(sum(dist[a][b] for a, b in itertools.pairwise(tour)) for tour in tours)


def test_light_rounds_are_optimal_and_follow_the_roads(conn: psycopg.Connection) -> None:
    _insert(conn, LIGHTS)
    plan = plan_rounds(conn, RoundRequest(service="lighting", activity="inspection", seconds=1))
    assert len(plan.rounds) == 1 and len(plan.stops) == len(LIGHTS)
    served = sorted(a for r in plan.rounds for i in r.stops for a in plan.stops[i].assets)
    ids = [r[0] for r in conn.execute("SELECT id FROM patrimoine.street_light ORDER BY id")]
    assert served == ids  # every light exactly once

    g, names = independent_graph([DEPOT, *LIGHTS])
    depot, lights = names[0], names[1:]
    optimum = brute_force_tour(g, depot, lights)
    (rnd,) = plan.rounds
    assert rnd.travel_s <= optimum * 1.01 + 1  # + 1 s: the solver works in whole seconds
    assert rnd.travel_s >= optimum - 1e-6

    # each leg: time and length of the independent shortest path between the same places
    by_id = {ids[k]: lights[k] for k in range(len(lights))}
    order = [depot, *(by_id[plan.stops[i].assets[0]] for i in rnd.stops), depot]
    metres = 0.0
    clock = 0.0
    for k, (a, b) in enumerate(itertools.pairwise(order)):
        seconds, path = nx.single_source_dijkstra(g, a, b, weight="seconds")
        metres += sum(g.edges[u, v]["metres"] for u, v in itertools.pairwise(path))
        clock += seconds
        if k < len(rnd.stops):
            assert rnd.arrivals_s[k] == pytest.approx(clock, abs=1e-3)
            clock += plan.stops[rnd.stops[k]].service_s
    assert rnd.travel_m == pytest.approx(metres, abs=1e-3)
    assert sum(shapely.LineString(line).length for line in rnd.lines) == pytest.approx(metres, abs=1e-3)
    assert rnd.service_s == pytest.approx(len(LIGHTS) * 6 * 60)  # inspection: 6 min a light


def test_shift_limits_split_the_work_into_rounds(conn: psycopg.Connection) -> None:
    _insert(conn, LIGHTS)
    from gis_patrimoine.analysis.params import save

    save(conn, {"shift_hours": 0.5})  # 7 lights × 6 min = 42 min: two rounds at least
    plan = plan_rounds(conn, RoundRequest(service="lighting", activity="inspection", seconds=1))
    assert len(plan.rounds) >= 2
    assert all(r.travel_s + r.service_s <= 1800 for r in plan.rounds)
    assert [(r.day, r.crew) for r in plan.rounds] == [(k + 1, 1) for k in range(len(plan.rounds))]  # one crew
    assert sorted(i for r in plan.rounds for i in r.stops) == list(range(len(plan.stops)))
    with pytest.raises(RoundsDoNotFit, match="add crews, lengthen the shift"):
        plan_rounds(conn, RoundRequest(service="lighting", activity="inspection", days=1, seconds=0.5))

    plan_id = store(conn, plan)
    stored = conn.execute(
        "SELECT count(*), sum(stops), bool_and(ST_IsValid(geom)) FROM analysis.round WHERE plan_id = %s", (plan_id,)
    ).fetchone()
    assert stored == (len(plan.rounds), len(LIGHTS), True)
    assert conn.execute("SELECT count(*) FROM analysis.round_stop WHERE plan_id = %s", (plan_id,)).fetchone()[0] == 7


def test_a_stop_whose_drive_there_and_back_exceeds_a_shift_is_named(conn: psycopg.Connection) -> None:
    """An 18-second shift: the drive to the farthest light and back does not fit, whatever the split of its work
    (work alone longer than a shift is split into visits: test_work_longer_than_a_shift_is_split_over_days)."""
    _insert(conn, LIGHTS)
    from gis_patrimoine.analysis.params import save

    save(conn, {"shift_hours": 0.005})
    with pytest.raises(
        RoundsDoNotFit,
        match=r"the drive there and back alone takes \d+ (s|min), its work \d+ min: more than a 0.005 h shift",
    ):
        plan_rounds(conn, RoundRequest(service="lighting", activity="inspection", seconds=0.5))


def test_sweeping_serves_each_segment_once_and_optimally(conn: psycopg.Connection) -> None:
    """Arc routing on four required streets around the depot's corner (the others are lanes, not swept)."""
    _insert(conn, [])
    required = ["h00", "v00", "h01", "v10"]
    conn.execute("UPDATE patrimoine.road SET road_class = 'lane' WHERE NOT source_id = ANY(%s)", (required,))
    conn.commit()
    plan = plan_rounds(conn, RoundRequest(service="roads", activity="sweeping", seconds=1))
    served = sorted(plan.stops[i].assets[0] for r in plan.rounds for i in r.stops)
    road_ids = dict(conn.execute("SELECT source_id, id FROM patrimoine.road").fetchall())
    assert served == sorted(road_ids[s] for s in required)  # each once, in one direction

    # brute force: every order and direction of the four segments, travel between them on the graph
    g, names = independent_graph([DEPOT])
    depot = names[0]
    segs = {s: shapely.from_wkt(next(w for sid, *_, w in ROADS if sid == s)) for s in required}
    oneway = {sid: ow for sid, _, _, ow, _ in ROADS}
    dist = {a: nx.single_source_dijkstra_path_length(g, a, weight="seconds") for a in g.nodes}
    best = float("inf")
    for order in itertools.permutations(required):
        for dirs in itertools.product((True, False), repeat=4):
            if any(not d and oneway[s] == "forward" for s, d in zip(order, dirs, strict=True)):
                continue
            ends = [
                (segs[s].coords[0], segs[s].coords[-1]) if d else (segs[s].coords[-1], segs[s].coords[0])
                for s, d in zip(order, dirs, strict=True)
            ]
            here, total = depot, 0.0
            for start, end in ends:
                total += dist[here][start]
                here = end
            best = min(best, total + dist[here][depot])
    travel = sum(r.travel_s for r in plan.rounds)
    assert best - 1e-6 <= travel <= best * 1.01 + 1
    assert sum(r.work_m for r in plan.rounds) == pytest.approx(4 * STEP)


def test_clear_errors(conn: psycopg.Connection) -> None:
    _insert(conn, [*LIGHTS, (X0 + 1550, Y0 + 1505)])  # the last light stands by the detached lane
    with pytest.raises(Unreachable, match=r"cannot be reached from the depot.*connect it"):
        plan_rounds(conn, RoundRequest(service="lighting", activity="inspection", seconds=0.5, strict=True))
    planned = plan_rounds(conn, RoundRequest(service="lighting", activity="inspection", seconds=0.5)).summary()
    assert (planned["assets"], planned["assets_unreachable"], planned["assets_selected"]) == (7, 1, 8)
    assert "no road links to the depots' part 1" in planned["unreachable"][0]["reason"]
    with pytest.raises(NothingToDo, match=r"no street_lights.*import them"):
        plan_rounds(conn, RoundRequest(service="lighting", activity="relamping", seconds=0.5))  # LEDs only
    with pytest.raises(NothingToDo, match="unknown service 'snow'"):
        plan_rounds(conn, RoundRequest(service="snow"))
    conn.execute("UPDATE patrimoine.depot SET geom = ST_SetSRID(ST_MakePoint(%s, %s), 2154)", (X0 - 600, Y0))
    conn.commit()
    with pytest.raises(DepotProblem, match=r"600 m from the nearest road.*move it next to its access road"):
        plan_rounds(conn, RoundRequest(service="lighting", activity="inspection", seconds=0.5))
    with pytest.raises(DepotProblem, match=r"600 m from the nearest road"):  # zones, areas, opportunities, equipment
        depot_nodes(conn, [conn.execute("SELECT id FROM patrimoine.depot").fetchone()[0]])
    with pytest.raises(DepotProblem, match="does not serve green_spaces"):
        depot = conn.execute("SELECT id FROM patrimoine.depot").fetchone()[0]
        conn.execute(
            "INSERT INTO patrimoine.green_space (commune_insee, source, source_id, kind, geom) VALUES ('53999', 't', "
            "'g', 'park', ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(%s, %s), 2154), 20)))",
            (X0 + 200, Y0 + 200),
        )
        plan_rounds(conn, RoundRequest(service="green_spaces", depots=[depot]))


def test_work_longer_than_a_shift_is_split_over_days(conn: psycopg.Connection) -> None:
    """The verges of a 9 km road (6 min per 100 m: 9 h) do not fit a 7 h shift: mown over several visits,
    every metre counted once, rather than refused (found on Andorra's real roads)."""
    conn.execute(
        "INSERT INTO patrimoine.commune (insee, name, geom) "
        "VALUES ('53130', 'Laval', ST_Multi(ST_MakeEnvelope(400000, 6780000, 410000, 6781000, 2154)))"
    )
    conn.execute(
        "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, geom) VALUES ('53130', 't', "
        "'long', 'main', ST_GeomFromText('LINESTRING(400500 6780500, 409500 6780500)', 2154))"
    )
    conn.execute(
        "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) VALUES "
        "('53130', 't', 'd', 'CTM', '{roads}', 1, ST_SetSRID(ST_MakePoint(400500, 6780505), 2154))"
    )
    conn.commit()
    plan = plan_rounds(conn, RoundRequest("roads", "verge_mowing", ["53130"], iterations=50, workers=1))
    s = plan.summary()
    assert s["assets"] == 1 and s["assets_unreachable"] == 0 and s["rounds"] >= 2
    assert s["hours_on_site"] == pytest.approx(9.0, rel=1e-6)  # 90 × 6 min, split, not doubled
    assert s["km_work"] == pytest.approx(9.0, rel=1e-6)
    assert all(r.service_s + r.travel_s <= plan.params.shift_seconds + 1 for r in plan.rounds)
