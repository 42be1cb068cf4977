"""Noding real road files: small networks built here, whose answers are known by construction.

Roads meet at shared interior vertices (OpenStreetMap), at another road's end, or nearly (a dangle short of a
road); roads on different levels do not meet where they cross; one-way traps are reported; a road cut into
pieces is still one road for arc work.
"""

from __future__ import annotations

import psycopg
import pytest

from gis_patrimoine.analysis.network import cost_matrix, ensure_network, load_graph, network_report
from gis_patrimoine.analysis.rounds import RoundRequest, plan_rounds, store

SQUARE = "MULTIPOLYGON(((399000 6779000, 402000 6779000, 402000 6782000, 399000 6782000, 399000 6779000)))"
X, Y = 400000, 6780000


def line(*points: tuple[float, float]) -> str:
    return "LINESTRING(" + ", ".join(f"{X + x} {Y + y}" for x, y in points) + ")"


@pytest.fixture
def territory(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(
        "INSERT INTO patrimoine.commune (insee, name, geom) VALUES ('53130', 'Laval', ST_GeomFromText(%s, 2154))",
        (SQUARE,),
    )
    return conn


def add_road(
    conn: psycopg.Connection,
    sid: str,
    wkt: str,
    road_class: str = "street",
    level: int | None = None,
    oneway: str = "no",
    name: str | None = None,
) -> int:
    return conn.execute(
        "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, oneway, level, name, geom) "
        "VALUES ('53130', 't', %s, %s, %s, %s, %s, ST_GeomFromText(%s, 2154)) RETURNING id",
        (sid, road_class, oneway, level, name, wkt),
    ).fetchone()[0]


def node_at(conn: psycopg.Connection, x: float, y: float) -> int:
    return conn.execute(
        "SELECT id FROM analysis.network_node WHERE ST_DWithin(geom, ST_SetSRID(ST_MakePoint(%s, %s), 2154), 0.01)",
        (X + x, Y + y),
    ).fetchone()[0]


def build(conn: psycopg.Connection) -> None:
    conn.commit()
    assert ensure_network(conn) is True


def test_ways_crossing_at_a_shared_interior_vertex_connect(territory: psycopg.Connection) -> None:
    a = add_road(territory, "a", line((0, 0), (100, 0), (200, 0)))
    b = add_road(territory, "b", line((100, -100), (100, 0), (100, 100)))
    build(territory)
    pieces = territory.execute(
        "SELECT road_id, count(*), sum(length_m) FROM analysis.network_edge GROUP BY road_id ORDER BY road_id"
    ).fetchall()
    assert pieces == [(a, 2, pytest.approx(200)), (b, 2, pytest.approx(200))]
    assert [p.segments for p in load_graph(territory).parts] == [4]
    west, north = node_at(territory, 0, 0), node_at(territory, 100, 100)
    seconds = cost_matrix(territory, [west, north])
    assert seconds[0, 1] == pytest.approx(200 / (30 / 3.6))  # along a to the crossing, then up b


def test_a_bridge_over_a_road_does_not_connect_even_through_a_shared_vertex(territory: psycopg.Connection) -> None:
    add_road(territory, "road", line((0, 0), (100, 0), (200, 0)))
    add_road(territory, "bridge", line((100, -100), (100, 0), (100, 100)), level=1)
    add_road(territory, "crossing", line((150, -50), (150, 50)))  # crosses the road with no vertex: apart too
    build(territory)
    assert territory.execute("SELECT count(*) FROM analysis.network_edge").fetchone()[0] == 3
    assert sorted(p.segments for p in load_graph(territory).parts) == [1, 1, 1]
    west, north = node_at(territory, 0, 0), node_at(territory, 100, 100)
    assert cost_matrix(territory, [west, north])[0, 1] == float("inf")


def test_a_bridge_meets_its_approaches_at_its_ends(territory: psycopg.Connection) -> None:
    add_road(territory, "approach-w", line((0, 0), (100, 0)))
    add_road(territory, "bridge", line((100, 0), (200, 0)), level=1)
    add_road(territory, "approach-e", line((200, 0), (300, 0)))
    add_road(territory, "under", line((150, -100), (150, 100)))
    build(territory)
    assert sorted(p.segments for p in load_graph(territory).parts) == [1, 3]


def test_a_dangle_half_a_metre_short_joins_and_one_five_metres_short_is_reported(
    territory: psycopg.Connection,
) -> None:
    main = add_road(territory, "main", line((0, 0), (200, 0)))
    near = add_road(territory, "near", line((50, 100), (50, 0.5)))
    far = add_road(territory, "far", line((150, 100), (150, 5)))
    beyond = add_road(territory, "beyond", line((190, 100), (190, 12)))  # past near_miss_m (10 m): a dead end
    build(territory)
    # the main road is cut where the near dangle joins it; a 0.5 m connector links them
    assert territory.execute(
        "SELECT count(*), sum(length_m) FROM analysis.network_edge WHERE road_id = %s", (main,)
    ).fetchone() == (2, pytest.approx(200))
    connector = territory.execute(
        "SELECT length_m, drivable FROM analysis.network_edge WHERE road_id IS NULL"
    ).fetchall()
    assert connector == [(pytest.approx(0.5), True)]
    issues = {
        r[0]: r[1:]
        for r in territory.execute(
            "SELECT road_id, kind, other_road_id, distance_m, reason FROM analysis.network_issue"
        )
    }
    assert issues[near][:3] == ("joined", main, pytest.approx(0.5))
    assert issues[far][:3] == ("near_miss", main, pytest.approx(5))
    assert "beyond the 1 m tolerance" in issues[far][3]
    assert beyond not in issues  # 12 m short: a road that ends there, not a near miss
    parts = sorted(p.segments for p in load_graph(territory).parts)
    assert parts == [1, 1, 4]  # main (2 pieces) + connector + near; far and beyond stand apart
    # a wider tolerance joins the far one too, at the next build
    from gis_patrimoine.analysis.params import save

    save(territory, {"node_tolerance_m": 6})
    assert ensure_network(territory) is True
    assert sorted(p.segments for p in load_graph(territory).parts) == [1, 7]


def test_a_dangle_near_a_road_on_another_level_is_not_joined(territory: psycopg.Connection) -> None:
    bridge = add_road(territory, "bridge", line((0, 0), (200, 0)), level=1)
    ramp = add_road(territory, "street", line((100, 100), (100, 0.3)))
    build(territory)
    kind, other, reason = territory.execute(
        "SELECT kind, other_road_id, reason FROM analysis.network_issue WHERE road_id = %s", (ramp,)
    ).fetchone()
    assert (kind, other) == ("near_miss", bridge) and "another level" in reason
    assert sorted(p.segments for p in load_graph(territory).parts) == [1, 1]


def test_one_way_dead_ends_are_reported(territory: psycopg.Connection) -> None:
    add_road(territory, "street", line((0, 0), (100, 0)))
    trap = add_road(territory, "trap", line((100, 0), (200, 0)), oneway="forward")
    build(territory)
    rows = territory.execute("SELECT kind, road_id, ST_X(geom) - %s FROM analysis.network_issue", (X,)).fetchall()
    assert rows == [("one_way_dead_end", trap, pytest.approx(200))]


def test_paths_are_not_driven_and_work_on_them_is_walked_to(territory: psycopg.Connection) -> None:
    add_road(territory, "street", line((0, 0), (400, 0)), name="Rue Haute")
    path = add_road(territory, "path", line((100, 0), (100, 80), (300, 80), (300, 0)), road_class="pedestrian")
    territory.execute(
        "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) "
        "VALUES ('53130', 't', 'd', 'CTM', '{roads,lighting}', 1, ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
        (X + 5, Y + 5),
    )
    # a light along the path, 80 m from the street
    territory.execute(
        "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) "
        "VALUES ('53130', 't', 'l', 'led', ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
        (X + 200, Y + 81),
    )
    build(territory)
    not_driven = territory.execute(
        "SELECT bool_and(NOT drivable) FROM analysis.network_edge WHERE road_id = %s", (path,)
    ).fetchone()[0]
    assert not_driven is True
    graph = load_graph(territory)
    assert [p.segments for p in graph.parts] == [3]  # the street, cut where the path meets it; no path
    report = network_report(territory)
    assert report["not_driven"]["segments"] == 1 and report["not_driven"]["km"] == pytest.approx(0.36)
    plan = plan_rounds(territory, RoundRequest("roads", "inspection", iterations=50))
    walked = [s for s in plan.stops if s.assets == [path]]
    assert len(walked) == 1 and "on foot" in walked[0].label
    # work 360 m × 1.5 min/100 m, plus walking the 360 m path back to the street (0 m away at its ends)
    assert walked[0].walk_s == pytest.approx(360 / (4.5 / 3.6))
    assert walked[0].service_s == pytest.approx(3.6 * 1.5 * 60 + walked[0].walk_s)
    light = plan_rounds(territory, RoundRequest("lighting", iterations=50))
    assert light.stops[0].walk_s == pytest.approx(2 * 81 * 1.3 / (4.5 / 3.6))
    assert light.summary()["assets"] == 1


def test_arc_work_on_a_split_road_sums_to_the_road_and_names_it(territory: psycopg.Connection) -> None:
    long = add_road(territory, "long", line((0, 0), (100, 0), (200, 0), (300, 0)), name="Grande Rue")
    add_road(territory, "side-1", line((100, 0), (100, 100)), name="Rue A")
    add_road(territory, "side-2", line((200, -100), (200, 0)), name="Rue B")
    territory.execute(
        "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) "
        "VALUES ('53130', 't', 'd', 'CTM', '{roads}', 1, ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
        (X + 5, Y + 5),
    )
    build(territory)
    plan = plan_rounds(territory, RoundRequest("roads", "sweeping", iterations=100))
    served = [plan.stops[i] for r in plan.rounds for i in r.stops if plan.stops[i].assets == [long]]
    assert len(served) == 3  # three pieces, each once in one direction
    assert sum(s.work_m for s in served) == pytest.approx(300)
    assert sum(s.service_s for s in served) == pytest.approx(3 * 4 * 60)  # 4 min per 100 m
    assert all(s.label.startswith("Grande Rue") for s in served)
    summary = plan.summary()
    assert (summary["assets"], summary["assets_selected"], summary["assets_unreachable"]) == (3, 3, 0)
    plan_id = store(territory, plan)
    stored = territory.execute(
        "SELECT count(*) FROM analysis.round_stop WHERE plan_id = %s AND road_id = %s", (plan_id, long)
    ).fetchone()[0]
    assert stored == 3
    # the round counts the road once, as the plan does (3 roads swept: the long one in pieces, the two sides)
    assets = territory.execute("SELECT sum(assets) FROM analysis.round WHERE plan_id = %s", (plan_id,)).fetchone()[0]
    assert assets == 3


def test_unreachable_assets_are_listed_with_their_reason_and_the_rest_is_planned(
    territory: psycopg.Connection,
) -> None:
    add_road(territory, "home", line((0, 0), (300, 0)), name="Rue du Dépôt")
    island = add_road(territory, "island", line((0, 500), (300, 500)), name="Rue Isolée")
    territory.execute(
        "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) "
        "VALUES ('53130', 't', 'd', 'CTM', '{roads}', 1, ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
        (X + 5, Y + 5),
    )
    build(territory)
    plan = plan_rounds(territory, RoundRequest("roads", "sweeping", iterations=50))
    summary = plan.summary()
    assert (summary["assets"], summary["assets_unreachable"], summary["assets_selected"]) == (1, 1, 2)
    [entry] = summary["unreachable"]
    assert entry["assets"] == [island] and entry["part"] == 2
    assert "no road links to the depots' part 1" in entry["reason"]
    from gis_patrimoine.analysis.access import Unreachable

    with pytest.raises(Unreachable, match="Rue Isolée"):
        plan_rounds(territory, RoundRequest("roads", "sweeping", iterations=50, strict=True))


def test_dangles_facing_each_other_make_one_connector_and_a_repeated_end_vertex_is_still_a_dangle(
    territory: psycopg.Connection,
) -> None:
    add_road(territory, "west", line((0, 0), (100, 0)))
    add_road(territory, "east", line((100.5, 0), (200, 0)))  # its start faces west's end, 0.5 m apart
    repeated = add_road(territory, "repeated", line((50, 100), (50, 0.6), (50, 0.6)))  # a doubled last vertex
    build(territory)
    connectors = territory.execute("SELECT count(*) FROM analysis.network_edge WHERE road_id IS NULL").fetchone()[0]
    assert connectors == 2  # west–east once (both ends dangle towards each other), repeated–west
    joined = territory.execute(
        "SELECT count(*) FROM analysis.network_issue WHERE kind = 'joined' AND road_id = %s", (repeated,)
    ).fetchone()[0]
    assert joined == 1
    assert [p.segments for p in load_graph(territory).parts] == [6]


def test_the_api_lists_what_cannot_be_reached_and_strict_refuses(territory: psycopg.Connection, db_url: str) -> None:
    import httpx

    from tests.servers import add_token, running_server

    add_road(territory, "home", line((0, 0), (300, 0)))
    island = add_road(territory, "island", line((0, 500), (300, 500)), name="Rue Isolée")
    territory.execute(
        "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) "
        "VALUES ('53130', 't', 'd', 'CTM', '{roads}', 1, ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
        (X + 5, Y + 5),
    )
    territory.commit()
    token = add_token(db_url, "planner", "reader")
    body = {"service": "roads", "activity": "sweeping", "seconds": 1}
    with running_server(db_url) as base, httpx.Client(base_url=base, timeout=120, headers=token) as client:
        planned = client.post("/analysis/rounds", json=body)
        assert planned.status_code == 201, planned.text
        summary = planned.json()["summary"]
        assert (summary["assets"], summary["assets_unreachable"]) == (1, 1)
        assert summary["unreachable"][0]["assets"] == [island]
        refused = client.post("/analysis/rounds", json={**body, "strict": True})
        assert refused.status_code == 422 and "Rue Isolée" in refused.text


def test_an_asset_as_near_two_roads_goes_to_the_lower_id_after_any_rebuild(territory: psycopg.Connection) -> None:
    from psycopg import sql

    from gis_patrimoine.analysis.access import snap

    # created in this order so that the index's order and the ids disagree: the upper road has the lower id
    upper = add_road(territory, "upper", line((0, 20), (200, 20)))
    lower = add_road(territory, "lower", line((0, 0), (200, 0)))
    territory.execute(
        "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) "
        "VALUES ('53130', 't', 'mid', 'led', ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
        (X + 100, Y + 10),
    )
    build(territory)
    query = sql.SQL("SELECT id, geom FROM patrimoine.street_light")
    road_of = "SELECT road_id FROM analysis.network_edge WHERE id = %s"
    first = [territory.execute(road_of, (edge,)).fetchone()[0] for _, edge, _, _ in snap(territory, query)]
    for k in range(3):  # rebuilt after edits elsewhere: the same choice every time
        add_road(territory, f"other{k}", line((0, 1000 + 10 * k), (50, 1000 + 10 * k)))
        build(territory)
        again = [territory.execute(road_of, (edge,)).fetchone()[0] for _, edge, _, _ in snap(territory, query)]
        assert again == first
    assert first == [min(upper, lower)] == [upper]


@pytest.mark.parametrize(("xs", "stops"), [((100, 150), 1), ((100, 150, 175), 2), ((100, 159), 1), ((100, 161), 2)])
def test_lights_within_the_stop_span_are_one_stop(territory: psycopg.Connection, xs: tuple, stops: int) -> None:
    """stop_spread_m (60 m): lights of one segment within 60 m of each other are served from one stop."""
    add_road(territory, "street", line((0, 0), (400, 0)))
    territory.execute(
        "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) "
        "VALUES ('53130', 't', 'd', 'CTM', '{lighting}', 1, ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
        (X, Y + 3),
    )
    for k, x in enumerate(xs):
        territory.execute(
            "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) "
            "VALUES ('53130', 't', %s, 'led', ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
            (str(k), X + x, Y + 2),
        )
    build(territory)
    plan = plan_rounds(territory, RoundRequest("lighting", "inspection", iterations=20))
    assert len(plan.stops) == stops and sum(len(s.assets) for s in plan.stops) == len(xs)
