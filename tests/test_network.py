"""The routable network built by pgRouting, checked against an independent shortest-path computation."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from gis_patrimoine.analysis.network import component_sizes_from_roads, components, cost_matrix, ensure_network
from tests import writable

demo_db, api = writable.demo_db, writable.api  # this module writes: its own clone of the demo

SQUARE = "MULTIPOLYGON(((400000 6780000, 402000 6780000, 402000 6782000, 400000 6782000, 400000 6780000)))"
# a square block of four 500 m streets (30 km/h), a diagonal one-way main road (70 km/h), a detached lane
ROADS = [
    ("a", "street", "no", "LINESTRING(400000 6780000, 400500 6780000)"),
    ("b", "street", "no", "LINESTRING(400500 6780000, 400500 6780500)"),
    ("c", "street", "no", "LINESTRING(400500 6780500, 400000 6780500)"),
    ("d", "street", "no", "LINESTRING(400000 6780500, 400000 6780000)"),
    ("e", "main", "forward", "LINESTRING(400000 6780000, 400500 6780500)"),
    ("f", "lane", "no", "LINESTRING(401000 6781000, 401100 6781000)"),
]


@pytest.fixture
def network(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(
        "INSERT INTO patrimoine.commune (insee, name, geom) VALUES ('53130', 'Laval', ST_GeomFromText(%s, 2154))",
        (SQUARE,),
    )
    for sid, road_class, oneway, wkt in ROADS:
        conn.execute(
            "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, oneway, geom) "
            "VALUES ('53130', 't', %s, %s, %s, ST_GeomFromText(%s, 2154))",
            (sid, road_class, oneway, wkt),
        )
    conn.commit()
    return conn


def independent_costs(conn: psycopg.Connection) -> tuple[list[int], np.ndarray]:
    """Shortest travel times computed here from the roads themselves (scipy), not from pgRouting."""
    rows = conn.execute(
        "SELECT n1.id, n2.id, r.length_m / (c.default_speed_kmh / 3.6), r.oneway FROM patrimoine.road r "
        "JOIN patrimoine_vl.road_class c ON c.code = r.road_class "
        "JOIN analysis.network_node n1 ON ST_Equals(n1.geom, ST_StartPoint(r.geom)) "
        "JOIN analysis.network_node n2 ON ST_Equals(n2.geom, ST_EndPoint(r.geom))"
    ).fetchall()
    nodes = sorted({r[0] for r in rows} | {r[1] for r in rows})
    index = {n: i for i, n in enumerate(nodes)}
    src, dst, w = [], [], []
    for a, b, seconds, oneway in rows:
        if oneway != "backward":
            src.append(index[a]), dst.append(index[b]), w.append(seconds)
        if oneway != "forward":
            src.append(index[b]), dst.append(index[a]), w.append(seconds)
    graph = coo_matrix((w, (src, dst)), shape=(len(nodes), len(nodes))).tocsr()
    return nodes, dijkstra(graph, directed=True)


def test_costs_equal_an_independent_shortest_path_computation(network: psycopg.Connection) -> None:
    assert ensure_network(network) is True
    assert ensure_network(network) is False  # nothing changed since
    nodes, expected = independent_costs(network)
    got = cost_matrix(network, nodes)
    assert np.allclose(got, expected, equal_nan=False)
    ids = dict(network.execute("SELECT ST_AsText(geom), id FROM analysis.network_node").fetchall())
    corner, opposite = nodes.index(ids["POINT(400000 6780000)"]), nodes.index(ids["POINT(400500 6780500)"])

    # one way: the main diagonal (707 m at 70 km/h) only from a to c; back, the streets (1,000 m at 30 km/h)
    assert got[corner, opposite] == pytest.approx(707.107 / (70 / 3.6), rel=1e-4)
    assert got[opposite, corner] == pytest.approx(1000 / (30 / 3.6), rel=1e-4)


def test_components_and_refresh_after_an_edit(network: psycopg.Connection) -> None:
    assert components(network) == [5, 1]  # the lane stands apart
    assert component_sizes_from_roads(network) == [5, 1]
    network.execute(
        "UPDATE patrimoine.road SET geom = ST_GeomFromText('LINESTRING(400500 6780500, 401000 6781000, "
        "401100 6781000)', 2154) WHERE source_id = 'f'"
    )
    network.commit()
    assert components(network) == [6]  # the network follows the edit


def test_a_rebuild_never_commits_its_callers_transaction(network: psycopg.Connection) -> None:
    from gis_patrimoine.analysis.network import ensure_network

    network.execute("INSERT INTO patrimoine_sys.setting (key, value) VALUES ('probe', '1')")  # not committed
    assert ensure_network(network)  # the roads changed since the last build (none yet): rebuilt
    network.rollback()
    assert network.execute("SELECT count(*) FROM patrimoine_sys.setting WHERE key = 'probe'").fetchone()[0] == 0
    built, current = network.execute(
        "SELECT (SELECT value::bigint FROM patrimoine_sys.setting WHERE key = 'network_version'), "
        "(SELECT version FROM patrimoine_sys.data_version WHERE layer = 'road')"
    ).fetchone()
    assert built == current and network.execute("SELECT count(*) FROM analysis.network_edge").fetchone()[0] > 0
    assert not ensure_network(network)


def test_noding_leaves_an_already_noded_network_as_it_was(demo_db: str) -> None:
    """The demo's roads meet at their ends only: one piece per road, its own geometry, nothing joined."""
    with psycopg.connect(demo_db) as conn:
        ensure_network(conn)
        roads = conn.execute("SELECT count(*) FROM patrimoine.road").fetchone()[0]
        edges = conn.execute(
            "SELECT count(*), count(DISTINCT e.road_id), bool_and(ST_OrderingEquals(e.geom, r.geom)), "
            "bool_and(e.drivable), bool_and(e.frac_start = 0 AND e.frac_end = 1) "
            "FROM analysis.network_edge e JOIN patrimoine.road r ON r.id = e.road_id"
        ).fetchone()
        assert edges == (roads, roads, True, True, True)
        assert conn.execute("SELECT count(*) FROM analysis.network_edge WHERE road_id IS NULL").fetchone()[0] == 0
        ends = conn.execute(
            "SELECT count(DISTINCT ST_SnapToGrid(p, 0.001)) FROM (SELECT ST_StartPoint(geom) p FROM patrimoine.road "
            "UNION ALL SELECT ST_EndPoint(geom) FROM patrimoine.road) s"
        ).fetchone()[0]
        assert conn.execute("SELECT count(*) FROM analysis.network_node").fetchone()[0] == ends
        kinds = dict(conn.execute("SELECT kind, count(*) FROM analysis.network_issue GROUP BY 1").fetchall())
        assert kinds.get("joined", 0) == 0
        assert components(conn) == component_sizes_from_roads(conn) == [roads]


def test_network_report_over_http(api: str) -> None:
    import httpx

    report = httpx.get(f"{api}/analysis/network", timeout=60).json()
    assert len(report["components"]) == 1 and report["largest_part_share"] == 1.0
    assert report["components"][0]["assets"]["street_lights"] > 0
    assert report["issues"]["counts"].get("joined", 0) == 0
    items = httpx.get(f"{api}/collections/network_issues/items").json()
    assert items["numberMatched"] == sum(report["issues"]["counts"].values())


def test_matrix_in_memory_equals_pgrouting(demo_db: str) -> None:
    """The travel matrix (Dijkstra on the graph in memory) against pgRouting's own, on the demo's junctions."""
    from gis_patrimoine.analysis.network import EDGES_SQL

    with psycopg.connect(demo_db) as conn:
        ensure_network(conn)
        nodes = [r[0] for r in conn.execute("SELECT id FROM analysis.network_node WHERE drivable ORDER BY id")][::40]
        got = cost_matrix(conn, nodes)
        index = {n: i for i, n in enumerate(nodes)}
        expected = np.full_like(got, np.inf)
        np.fill_diagonal(expected, 0.0)
        for start, end, cost in conn.execute(
            "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCostMatrix(%s, %s::bigint[], directed => true)",
            (EDGES_SQL, nodes),
        ):
            expected[index[start], index[end]] = cost
    assert len(nodes) > 50 and np.isfinite(expected).all()
    assert np.allclose(got, expected, rtol=1e-12, atol=1e-9)


def test_the_matrix_is_computed_in_batches_that_bound_its_memory(demo_db: str, monkeypatch) -> None:
    """At most MATRIX_CELLS distances (50 million float64: 400 MB) are held at once: with a bound of three
    rows' worth, the Dijkstra runs three sources at a time and the matrix is the same."""
    from gis_patrimoine.analysis import network

    assert network.MATRIX_CELLS * 8 == 400_000_000
    with psycopg.connect(demo_db) as conn:
        graph = network.load_graph(conn)
    nodes = [int(n) for n in graph.nodes[::60]]
    whole = graph.costs(nodes, nodes)
    calls: list[int] = []
    real = network.dijkstra

    def counted(matrix, **kwargs):
        calls.append(len(kwargs["indices"]))
        return real(matrix, **kwargs)

    monkeypatch.setattr(network, "MATRIX_CELLS", 3 * len(graph.nodes))
    monkeypatch.setattr(network, "dijkstra", counted)
    batched = graph.costs(nodes, nodes)
    assert max(calls) == 3 and sum(calls) == len(nodes) > 20
    assert np.array_equal(batched, whole)
