"""Load and fault test of the server, on loopback, bounded in time.

    .venv/bin/python bench/stress.py [--clients 64] [--seconds 60] [--outage 5]

Needs the demo loaded (`make demo`) in the local cluster. Starts `gis-patrimoine serve` (one worker) on a free
port, then:
1. load: `--clients` concurrent clients mix tiles (z12–z16 around the communes), items pages and analysis
   lookups for `--seconds`; prints requests, errors, p50/p95/p99 and the server's memory every 10 s;
2. fault: the same load while PostgreSQL is stopped for `--outage` seconds and started again: prints how fast
   requests fail while it is down (503 with Retry-After expected) and how long after its return they succeed.
This stops and restarts the local cluster: do not run it against a database others use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import morecantile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_patrimoine.db import cluster  # noqa: E402
from gis_patrimoine.settings import get_settings  # noqa: E402

LON, LAT = -0.77, 48.07  # Laval
TMS = morecantile.tms.get("WebMercatorQuad")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def random_request(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.6:
        z = rng.randint(12, 16)
        t = TMS.tile(LON + rng.uniform(-0.12, 0.12), LAT + rng.uniform(-0.08, 0.08), z)
        return f"/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}"
    if kind < 0.9:
        c = rng.choice(["roads", "street_lights", "green_spaces", "buildings", "depots"])
        lon, lat = LON + rng.uniform(-0.1, 0.1), LAT + rng.uniform(-0.06, 0.06)
        return f"/collections/{c}/items?limit=50&bbox={lon},{lat},{lon + 0.01},{lat + 0.01}"
    lon, lat = LON + rng.uniform(-0.1, 0.1), LAT + rng.uniform(-0.06, 0.06)
    return f"/analysis/lookup?lon={lon}&lat={lat}"


async def client(base: str, until: float, seed: int, log: list) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.monotonic() < until:
            path = random_request(rng)
            start = time.monotonic()
            try:
                r = await http.get(path)
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            log.append((start, time.monotonic() - start, status, r.headers.get("retry-after") if status else None))


def summary(log: list, label: str) -> None:
    times = sorted(d for _, d, s, _ in log if s in (200, 204, 304, 404))
    errors = sum(1 for _, _, s, _ in log if s not in (200, 204, 304, 404))
    codes = sorted({s for _, _, s, _ in log if s not in (200, 204, 304, 404)})
    q = statistics.quantiles(times, n=100) if len(times) > 100 else [0] * 99
    print(
        f"{label}: {len(log):,} requests, {errors} errors {codes or ''}, p50 {q[49] * 1000:.0f} ms, "
        f"p95 {q[94] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms"
    )


async def load(base: str, pid: int, clients: int, seconds: float) -> list:
    log: list = []
    until = time.monotonic() + seconds
    tasks = [asyncio.create_task(client(base, until, k, log)) for k in range(clients)]
    memory = []
    while time.monotonic() < until:
        await asyncio.sleep(min(10, max(0.1, until - time.monotonic())))
        memory.append(rss_mb(pid))
        elapsed = seconds - (until - time.monotonic())
        print(f"  t={elapsed:4.0f} s  {len(log):7,} requests  server RSS {memory[-1]:.0f} MB")
    await asyncio.gather(*tasks)
    print(f"  memory: {memory[0]:.0f} → {memory[-1]:.0f} MB (max {max(memory):.0f})")
    return log


async def fault(base: str, clients: int, outage: float) -> None:
    settings = get_settings()
    log: list = []
    t0 = time.monotonic()
    until = t0 + 10 + outage + 15
    tasks = [asyncio.create_task(client(base, until, 100 + k, log)) for k in range(clients)]
    await asyncio.sleep(10)
    down_at = time.monotonic()
    await asyncio.to_thread(cluster.down, settings)
    print(f"  PostgreSQL stopped at t={down_at - t0:.1f} s")
    await asyncio.sleep(outage)
    await asyncio.to_thread(cluster.up, settings)
    up_at = time.monotonic()
    print(f"  PostgreSQL running again at t={up_at - t0:.1f} s")
    await asyncio.gather(*tasks)
    during = [(d, s, ra) for start, d, s, ra in log if down_at + 0.5 < start < up_at - 0.5]
    failed = [(d, s, ra) for d, s, ra in during if s not in (200, 204, 304, 404)]
    if during:
        slowest = max(d for d, _, _ in failed) if failed else 0
        codes = sorted({s for _, s, _ in failed})
        retry = sum(1 for _, s, ra in failed if s == 503 and ra)
        print(
            f"  while down: {len(during):,} requests, {len(failed):,} failed with {codes} "
            f"({retry:,} with Retry-After), slowest failure {slowest * 1000:.0f} ms"
        )
    after = sorted((start, s) for start, _, s, _ in log if start >= up_at)
    ok = (200, 204, 304, 404)
    first_ok = next((start for start, s in after if s in ok), None)
    late = [s for start, s in after if s not in ok and start > (first_ok or until) + 5]
    fails_after = len(late)
    if first_ok is not None:
        print(
            f"  first success {first_ok - up_at:.2f} s after PostgreSQL returned; {fails_after} failures more than "
            f"5 s after it {sorted(set(late)) or ''}"
        )
    else:
        print("  no success after PostgreSQL returned")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--outage", type=float, default=5)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gis_patrimoine.cli", "serve", "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        print(f"load: {args.clients} clients for {args.seconds:.0f} s (tiles 60 %, items 30 %, lookups 10 %)")
        summary(asyncio.run(load(base, server.pid, args.clients, args.seconds)), "load")
        print(f"fault: the same load, PostgreSQL stopped for {args.outage:.0f} s")
        asyncio.run(fault(base, args.clients, args.outage))
    finally:
        server.terminate()
        server.wait(timeout=20)
        cluster.up(get_settings())


if __name__ == "__main__":
    main()
