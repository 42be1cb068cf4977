"""Rounds on the demo territory, timed phase by phase, exactly as `gis-patrimoine analyse rounds` runs them.

    .venv/bin/python bench/rounds_bench.py [--seconds 10]

Needs the demo loaded (`make demo`, or `gis-patrimoine demo run`). Prints, for Laval's street-light inspection
and the sweeping of the smallest commune: stops, rounds, days, km and hours, and the time spent building the
network, snapping the assets into stops, the travel matrix (pgRouting), the solver and the legs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_patrimoine.analysis.rounds import RoundRequest, plan_rounds  # noqa: E402
from gis_patrimoine.db.connection import database_url  # noqa: E402
from gis_patrimoine.settings import get_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="solver time (per core)")
    args = parser.parse_args()
    with psycopg.connect(database_url(get_settings())) as conn:
        small = conn.execute("SELECT insee, name FROM patrimoine.commune ORDER BY population LIMIT 1").fetchone()
        cases = [
            ("Laval street-light inspection", RoundRequest("lighting", "inspection", ["53130"], seconds=args.seconds)),
            (f"{small[1]} sweeping", RoundRequest("roads", "sweeping", [small[0]], seconds=args.seconds)),
        ]
        print(f"{'case':<32} {'stops':>6} {'rounds':>6} {'days':>4} {'km':>7} {'h site':>7} {'h trav':>6}  timings (s)")
        for name, request in cases:
            start = time.perf_counter()
            plan = plan_rounds(conn, request)
            total = time.perf_counter() - start
            s = plan.summary()
            t = s["solver"]["timings_s"]
            print(
                f"{name:<32} {s['stops']:>6} {s['rounds']:>6} {s['days']:>4} {s['km_travel'] + s['km_work']:>7.1f} "
                f"{s['hours_on_site']:>7.1f} {s['hours_travel']:>6.1f}  total {total:.1f} = "
                + " + ".join(f"{k} {v:.1f}" for k, v in t.items())
            )


if __name__ == "__main__":
    main()
