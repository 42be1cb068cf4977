"""Demo generation at scale: time, peak memory and volumes for each scale.

    .venv/bin/python bench/demo_bench.py [--scales 1 10 100] [--workdir DIR]

Each scale runs `gis-patrimoine demo generate` in its own process, so that its peak RSS is its own. The
files are kept in the work directory for the other benchmarks (serving, routing) to load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

import pyogrio

ROOT = Path(__file__).resolve().parents[1]
GP = str(ROOT / ".venv" / "bin" / "gis-patrimoine")
LAYERS = ("roads", "street_lights", "green_spaces", "buildings", "depots", "trees", "litter_bins", "gullies")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 10, 100])
    parser.add_argument("--workdir", type=Path, default=ROOT / ".data" / "bench-demo")
    args = parser.parse_args()
    print(f"{'scale':>6} {'seconds':>8} {'peak MB':>8} " + " ".join(f"{layer:>14}" for layer in LAYERS))
    for scale in args.scales:
        outdir = args.workdir / f"scale-{scale:g}"
        start = time.perf_counter()
        proc = subprocess.Popen(
            [GP, "demo", "generate", str(outdir), "--scale", str(scale)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(proc.stderr.read().decode())
        counts = [pyogrio.read_info(outdir / f"{layer}.gpkg")["features"] for layer in LAYERS]
        print(
            f"{scale:>6g} {elapsed:>8.1f} {usage.ru_maxrss // 1024:>8} " + " ".join(f"{c:>14,}" for c in counts),
            flush=True,
        )


if __name__ == "__main__":
    main()
