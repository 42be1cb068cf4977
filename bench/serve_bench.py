"""Serving benchmark: gis-patrimoine vs tipg on the same tables of the same database, and the bare-SQL floor.

    .venv/bin/python bench/serve_bench.py [--scale 1] [--tiles 600] [--workers 1]

Loads the demo territory at `--scale` into its own database, starts `gis-patrimoine serve` and tipg
(installed from PyPI into .data/bench-tipg) with the same number of uvicorn workers, then requests the same
list of tiles (z10–z17 over the territory, four asset layers) and the same items pages from both, cold (first
request after start) and warm (again), at concurrency 1 (a lean keep-alive client) and 16 (cold: httpx's
async client, each tile once; warm and items: wrk for 10 s, when installed). It also times the same
tiles as bare SQL on one connection: the floor no server can beat.
Prints requests/s, p50 and p95 latency, bytes, and the ratios.
At --scale 100 it also reports the z14 tile p95 at concurrency 1.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import morecantile
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_patrimoine.catalogue import get_catalogue  # noqa: E402
from gis_patrimoine.collection import Collections  # noqa: E402
from gis_patrimoine.db.connection import database_url, with_dbname  # noqa: E402

TIPG_VENV = ROOT / ".data" / "bench-tipg"
LAYERS = ("roads", "street_lights", "green_spaces", "buildings")
TABLE = {"roads": "road", "street_lights": "street_light", "green_spaces": "green_space", "buildings": "building"}
TMS = morecantile.tms.get("WebMercatorQuad")


def ensure_tipg() -> Path:
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(TIPG_VENV / "bin" / "pip"), "install", "-q", "tipg", "uvicorn"], check=True)
    return python


def prepare_db(scale: float, reuse: bool) -> str:
    server = database_url()
    name = f"bench_serve_{str(scale).replace('.', '_')}"
    url = with_dbname(server, name)
    with psycopg.connect(with_dbname(server, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    if exists and reuse:
        return url
    env = {**os.environ, "DATABASE_URL": url}
    gp = str(ROOT / ".venv" / "bin" / "gis-patrimoine")
    subprocess.run([gp, "db", "init"], env=env, check=True, capture_output=True)
    outdir = ROOT / ".data" / "bench-demo" / f"scale-{scale:g}"
    from gis_patrimoine.demo.load import missing_files

    if missing_files(outdir):  # none yet, or made by a version with fewer layers
        subprocess.run(
            [gp, "demo", "generate", str(outdir), "--scale", str(scale)], env=env, check=True, capture_output=True
        )
    subprocess.run([gp, "demo", "load", str(outdir)], env=env, check=True, capture_output=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url


def tile_list(url: str, n: int, seed: int = 1) -> list[tuple[str, int, int, int]]:
    """The same (layer, z, x, y) for both servers: tiles over the territory, z10–z17, weighted to town."""
    with psycopg.connect(url) as conn:
        bounds = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
            "ST_Transform(ST_SetSRID(ST_Extent(geom)::geometry, 2154), 4326) e "
            "FROM patrimoine.commune) s"
        ).fetchone()
        centres = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_Centroid(geom), 4326) p FROM patrimoine.commune) s"
        ).fetchall()
    rng = random.Random(seed)

    def sample(z: int) -> tuple[int, int]:
        if z >= 14:  # detailed zooms where the assets are: around town centres
            cx, cy = rng.choice(centres)
            lon, lat = cx + rng.gauss(0, 0.01), cy + rng.gauss(0, 0.007)
        else:
            lon, lat = rng.uniform(bounds[0], bounds[2]), rng.uniform(bounds[1], bounds[3])
        t = TMS.tile(lon, lat, z)
        return t.x, t.y

    # distinct tiles only (a repeated tile would be a cache hit in the "cold" pass): as many per zoom as
    # exist up to an even share, the rest at the detailed zooms
    tiles: dict[tuple, None] = {}
    share = max(1, n // (8 * len(LAYERS)))
    for z in range(10, 18):
        for layer in LAYERS:
            found = 0
            for _ in range(share * 20):
                key = (layer, z, *sample(z))
                if key not in tiles:
                    tiles[key] = None
                    found += 1
                if found == share:
                    break
    while len(tiles) < n:
        z = rng.choice((14, 15, 16, 17))
        tiles.setdefault((rng.choice(LAYERS), z, *sample(z)), None)
    return list(tiles)


def start(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    # the server's log goes to a file: a pipe nobody reads fills up (64 KB of slow-tile warnings at scale 100)
    # and then blocks the server's event loop on its next log line — the "hang" once seen here
    log = tempfile.NamedTemporaryFile(prefix=f"bench-{Path(cmd[0]).name}-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"{cmd[0]} did not start: {Path(log.name).read_text()[-2000:]}")


def _summary(latencies: list[float], wall: float, sizes: int, errors: int, by_url: dict) -> dict:
    latencies = sorted(latencies)
    return {
        "rps": len(latencies) / wall,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "mean": statistics.mean(latencies) * 1000,
        "bytes": sizes,
        "errors": errors,
        "by_url": by_url,
    }


def run_serial(urls: list[str]) -> dict:
    """Concurrency 1 with a lean keep-alive client (http.client): about 0.1 ms of client time per request, where
    httpx's async client spends most of a millisecond — which the bare-SQL floor never pays."""
    parsed = urlsplit(urls[0])
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)
    latencies, by_url, sizes, errors = [], {}, 0, 0
    start_t = time.perf_counter()
    for url in urls:
        t0 = time.perf_counter()
        conn.request("GET", url.split(str(parsed.port), 1)[1])
        response = conn.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - t0)
        by_url[url] = latencies[-1]
        errors += response.status >= 400
        sizes += len(body)
    wall = time.perf_counter() - start_t
    conn.close()
    return _summary(latencies, wall, sizes, errors, by_url)


async def run_requests(urls: list[str], concurrency: int) -> dict:
    if concurrency == 1:
        return run_serial(urls)
    latencies: list[float] = []
    by_url: dict[str, float] = {}
    sizes = 0
    errors = 0
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def one(url: str) -> None:
            nonlocal sizes, errors
            async with sem:
                t0 = time.perf_counter()
                r = await client.get(url)
                latencies.append(time.perf_counter() - t0)
                by_url[url] = latencies[-1]
                if r.status_code >= 400:
                    errors += 1
                sizes += len(r.content)

        start_t = time.perf_counter()
        await asyncio.gather(*(one(u) for u in urls))
        wall = time.perf_counter() - start_t
    return _summary(latencies, wall, sizes, errors, by_url)


WRK_SCRIPT = """
local urls = {}
for line in io.lines(os.getenv("BENCH_URLS")) do urls[#urls + 1] = line end
local i = math.random(#urls)
request = function()
  i = i % #urls + 1
  return wrk.format("GET", urls[i])
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.timeout))
end
"""


def run_wrk(base: str, paths: list[str], concurrency: int, seconds: int = 10) -> dict | None:
    """Warm throughput measured by wrk (C, two threads): the Python client no longer caps the server."""
    if not shutil.which("wrk"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script, urls = Path(tmp) / "bench.lua", Path(tmp) / "urls.txt"
        script.write_text(WRK_SCRIPT)
        urls.write_text("\n".join(paths) + "\n")
        out = subprocess.run(
            ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", "-s", str(script), base],
            env={**os.environ, "BENCH_URLS": str(urls)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    n, duration_us, p50, p95, errors = (int(v) for v in out.split("BENCH ")[1].split())
    return {
        "rps": n / (duration_us / 1e6),
        "p50": p50 / 1000,
        "p95": p95 / 1000,
        "mean": 0.0,
        "bytes": 0,
        "errors": errors,
    }


def bare_sql(url: str, tiles: list[tuple[str, int, int, int]]) -> float:
    catalogue = get_catalogue()
    with psycopg.connect(url) as conn:
        srid = int(conn.execute("SELECT value FROM patrimoine_sys.setting WHERE key = 'srid'").fetchone()[0])
        collections = Collections(catalogue, srid)
        queries = [collections.of_layer(layer).tile_query(z, x, y) for layer, z, x, y in tiles]
        for query, params in queries:  # a first pass warms PostgreSQL's buffers, as the servers' runs find them
            conn.execute(query, params).fetchone()
        start_t = time.perf_counter()
        for query, params in queries:
            conn.execute(query, params).fetchone()
        return (time.perf_counter() - start_t) / len(tiles) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--tiles", type=int, default=640)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="use the database of an earlier run as it is")
    args = parser.parse_args()
    tipg_python = ensure_tipg()
    url = prepare_db(args.scale, args.reuse)

    tiles = tile_list(url, args.tiles)
    print(f"{len(tiles)} tiles z10–z17 over the territory, layers {', '.join(LAYERS)}; scale {args.scale:g}")
    floor_ms = bare_sql(url, tiles)
    print(f"bare SQL floor (one connection, same tile SQL): {floor_ms:.2f} ms per tile")
    gp_port, tipg_port = 8731, 8732
    servers = {
        "gis-patrimoine": (
            [
                str(ROOT / ".venv" / "bin" / "gis-patrimoine"),
                "serve",
                "--port",
                str(gp_port),
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
            ],
            {**os.environ, "DATABASE_URL": url},
            gp_port,
            "http://127.0.0.1:{port}/collections/{layer}/tiles/WebMercatorQuad/{z}/{y}/{x}",
        ),
        "tipg": (
            [
                str(tipg_python),
                "-m",
                "uvicorn",
                "tipg.main:app",
                "--port",
                str(tipg_port),
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
            ],
            {
                **os.environ,
                "DATABASE_URL": url,
                "TIPG_DB_SCHEMAS": '["patrimoine"]',
                "TIPG_TILE_BUFFER": "64",
                "TIPG_MAX_FEATURES_PER_TILE": "50000",
            },
            tipg_port,
            "http://127.0.0.1:{port}/collections/patrimoine.{table}/tiles/WebMercatorQuad/{z}/{x}/{y}",
        ),
    }
    results: dict[tuple[str, str, int], dict] = {}
    for name, (cmd, env, port, pattern) in servers.items():
        tile_urls = [
            pattern.format(port=port, layer=layer, table=TABLE[layer], z=z, x=x, y=y) for layer, z, x, y in tiles
        ]
        item_prefix = "" if name == "gis-patrimoine" else "patrimoine."
        item_urls = [
            f"http://127.0.0.1:{port}/collections/{item_prefix}{TABLE[layer] if item_prefix else layer}"
            f"/items?limit=100&offset={k * 100}"
            for layer in LAYERS
            for k in range(10)
        ]
        for concurrency in (1, 16):
            proc = start(cmd, env, port)  # a fresh process: cold caches
            try:
                results[(name, "tiles cold", concurrency)] = asyncio.run(run_requests(tile_urls, concurrency))
                if concurrency == 1:
                    results[(name, "tiles warm", 1)] = run_serial(tile_urls)
                    results[(name, "items", 1)] = run_serial(item_urls)
                else:  # warm and items at 16 by wrk: a Python client would cap both servers at its own speed
                    for kind, urls in (("tiles warm", tile_urls), ("items", item_urls)):
                        measured = run_wrk(f"http://127.0.0.1:{port}", [u.split(str(port), 1)[1] for u in urls], 16)
                        results[(name, kind, 16)] = measured or asyncio.run(run_requests(urls, 16))
            finally:
                proc.terminate()
                proc.wait()
    print(f"\n{'server':<15} {'kind':<11} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'MB':>7} {'errors':>6}")
    for (name, kind, conc), r in results.items():
        print(
            f"{name:<15} {kind:<11} {conc:>4} {r['rps']:>8.1f} {r['p50']:>8.1f} {r['p95']:>8.1f} "
            f"{r['bytes'] / 1e6:>7.1f} {r['errors']:>6}"
        )
    print("\nratios gis-patrimoine / tipg (throughput; p95 lower is better):")
    for kind in ("tiles cold", "tiles warm", "items"):
        for conc in (1, 16):
            if ("gis-patrimoine", kind, conc) not in results:
                continue
            ours, theirs = results[("gis-patrimoine", kind, conc)], results[("tipg", kind, conc)]

            print(
                f"  {kind:<11} c={conc:<3} throughput x{ours['rps'] / theirs['rps']:.2f}   "
                f"p95 {ours['p95']:.1f} vs {theirs['p95']:.1f} ms"
            )
    for name, (_, _, port, pattern) in servers.items():
        z14 = sorted(
            results[(name, "tiles cold", 1)]["by_url"][
                pattern.format(port=port, layer=layer, table=TABLE[layer], z=z, x=x, y=y)
            ]
            for layer, z, x, y in tiles
            if z == 14
        )
        print(
            f"{name}: z14 tiles, cold, concurrency 1: p95 {z14[int(len(z14) * 0.95) - 1] * 1000:.1f} ms "
            f"({len(z14)} tiles)"
        )
    cold1 = results[("gis-patrimoine", "tiles cold", 1)]

    print(
        f"\ncold tiles at concurrency 1: mean {cold1['mean']:.2f} ms per tile = x{cold1['mean'] / floor_ms:.2f} the "
        f"bare-SQL floor ({floor_ms:.2f} ms)"
    )


if __name__ == "__main__":
    main()
