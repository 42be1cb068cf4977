"""Real road networks: noding, the travel matrix and rounds on OpenStreetMap roads (Andorra) and on the demo.

    .venv/bin/python bench/network_bench.py [--seconds 10] [--demo-url URL]

Builds a database of its own from ../shared/data/andorra (parishes, roads and green spaces imported as a user
would, `--profile osm`; a depot per parish on the driven road nearest its centre), then prints:
- the network before noding (roads joined at their end points only, as up to migration 0011) and after;
- rounds of road sweeping and of green-space mowing for the parish with the most driven km, phase by phase;
- the travel matrix of those rounds by `pgr_dijkstraCostMatrix` (before) and by one Dijkstra per junction on the
  graph in memory (after), on the same junctions, with the largest difference (must be 0).
Then the same for Laval's street-light inspection on the demo (the local database after `make demo`, or
`--demo-url`). The Andorra database is dropped at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_patrimoine.analysis import access  # noqa: E402
from gis_patrimoine.analysis.network import (  # noqa: E402
    EDGES_SQL,
    component_sizes_from_roads,
    load_graph,
    network_report,
)
from gis_patrimoine.analysis.rounds import RoundRequest, plan_rounds  # noqa: E402
from gis_patrimoine.db import cluster  # noqa: E402
from gis_patrimoine.db.connection import database_url, with_dbname  # noqa: E402
from gis_patrimoine.db.migrations import migrate  # noqa: E402
from gis_patrimoine.importer import CommuneOptions, ImportOptions, import_communes, import_layer  # noqa: E402
from gis_patrimoine.settings import get_settings  # noqa: E402

ANDORRA = ROOT.parent / "shared" / "data" / "andorra"
DEPOTS_SQL = """
INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom)
SELECT c.insee, 'bench', c.insee, 'Dépôt ' || c.name, ARRAY['lighting', 'green_spaces', 'roads', 'buildings'], 2,
       ST_ClosestPoint(e.geom, ST_PointOnSurface(c.geom))
FROM patrimoine.commune c CROSS JOIN LATERAL (
    SELECT geom FROM analysis.network_edge e WHERE e.drivable AND e.commune_insee = c.insee
    ORDER BY e.geom <-> ST_PointOnSurface(c.geom) LIMIT 1) e
"""


def andorra_db(server: str, tmp: Path) -> str:
    name = "gp_bench_network"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    url = with_dbname(server, name)
    migrate(url)
    import_communes(url, CommuneOptions(ANDORRA / "parishes.shp"))
    for layer, file, id_field in (("roads", "roads.shp", "osm_id"), ("green_spaces", "green_spaces.shp", "osm_way_id")):
        opts = ImportOptions(layer, ANDORRA / file, profile="osm", id_field=id_field, skip_refused=True, report_dir=tmp)
        import_layer(url, opts)
    return url


def matrix_both_ways(conn: psycopg.Connection, request: RoundRequest) -> tuple[int, float, float, float]:
    """Junctions of the plan's places; seconds by pgr_dijkstraCostMatrix and by the graph in memory; max diff."""
    plan = plan_rounds(conn, request)
    places = [d.place for d in plan.depots] + [s.place for s in plan.stops]
    edges = access.load_edges(conn, {p.edge for p in places})
    nodes = sorted(
        {n for p in places for n, _, _ in (*access.exits(p, edges[p.edge]), *access.entries(p, edges[p.edge]))}
    )
    start = time.perf_counter()
    index = {n: i for i, n in enumerate(nodes)}
    before = np.full((len(nodes), len(nodes)), np.inf)
    np.fill_diagonal(before, 0.0)
    for s, ends, costs in conn.execute(
        "SELECT start_vid, array_agg(end_vid), array_agg(agg_cost) "
        "FROM pgr_dijkstraCostMatrix(%s, %s::bigint[], directed => true) GROUP BY start_vid",
        (EDGES_SQL, nodes),
    ):
        before[index[s], [index[e] for e in ends]] = costs
    pgr_s = time.perf_counter() - start
    start = time.perf_counter()
    after = access.junction_matrix(conn, nodes, load_graph(conn))
    mem_s = time.perf_counter() - start
    finite = np.isfinite(before)
    assert (finite == np.isfinite(after)).all(), "the two matrices disagree on what is reachable"
    return len(nodes), pgr_s, mem_s, float(np.abs(before[finite] - after[finite]).max(initial=0.0))


def show_plan(name: str, conn: psycopg.Connection, request: RoundRequest) -> None:
    start = time.perf_counter()
    plan = plan_rounds(conn, request)
    total = time.perf_counter() - start
    s = plan.summary()
    t = s["solver"]["timings_s"]
    print(
        f"{name:<40} {s['assets_selected']:>5} {s['assets']:>5} {s['assets_unreachable']:>5} {s['stops']:>6} "
        f"{s['rounds']:>6} {s['km_travel'] + s['km_work']:>7.1f}  total {total:.1f} s = "
        + " + ".join(f"{k} {v:.1f}" for k, v in t.items())
    )
    n, pgr_s, mem_s, diff = matrix_both_ways(conn, request)
    print(
        f"{'':<40} matrix of {n:,} junctions: pgr_dijkstraCostMatrix {pgr_s:.2f} s, in memory {mem_s:.2f} s "
        f"(×{pgr_s / mem_s:.1f}), largest difference {diff:.2e} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="solver time (per core)")
    parser.add_argument(
        "--demo-url", help="a database holding the demo (default: the local one, when `make demo` loaded it)"
    )
    args = parser.parse_args()
    settings = get_settings()
    server = with_dbname(settings.database_url or cluster.up(settings).url, "postgres")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        url = andorra_db(server, Path(tmp))
        print(f"Andorra imported in {time.perf_counter() - start:.1f} s")
    try:
        with psycopg.connect(url) as conn:
            ends_only = component_sizes_from_roads(conn)
            start = time.perf_counter()
            report = network_report(conn)
            print(
                f"network: {report['roads']:,} roads, {report['roads_km']:.0f} km. Joined at end points only: "
                f"{len(ends_only)} parts, the largest {ends_only[0]} roads. Noded (built and reported in "
                f"{time.perf_counter() - start:.1f} s): {report['segments']:,} driven segments, {report['km']:.1f} km "
                f"in {len(report['components'])} parts, the largest {report['largest_part_share']:.1%} of the driven "
                f"km; issues {report['issues']['counts']}"
            )
            conn.execute(DEPOTS_SQL)
            conn.commit()
            parish = conn.execute(
                "SELECT commune_insee FROM analysis.network_edge WHERE drivable GROUP BY 1 ORDER BY sum(length_m) DESC "
                "LIMIT 1"
            ).fetchone()[0]
            print(f"{'case':<40} {'sel.':>5} {'plan.':>5} {'unre.':>5} {'stops':>6} {'rounds':>6} {'km':>7}  timings")
            for label, service in (("road sweeping", "roads"), ("green-space mowing", "green_spaces")):
                request = RoundRequest(service, None, [parish] if service == "roads" else [], seconds=args.seconds)
                show_plan(f"Andorra {parish if service == 'roads' else 'all'} {label}", conn, request)
        demo = args.demo_url or database_url(settings)
        with psycopg.connect(demo) as conn:
            loaded = conn.execute(
                "SELECT to_regclass('patrimoine.street_light') IS NOT NULL "
                "AND EXISTS (SELECT 1 FROM patrimoine.street_light WHERE commune_insee = '53130')"
            ).fetchone()[0]
        if not loaded:
            print(f"no demo in {demo}: run `make demo` (or pass --demo-url) for Laval's light inspection")
        else:
            with psycopg.connect(demo) as conn:
                request = RoundRequest("lighting", "inspection", ["53130"], seconds=args.seconds)
                show_plan("Laval (demo) street-light inspection", conn, request)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS gp_bench_network WITH (FORCE)")


if __name__ == "__main__":
    main()
