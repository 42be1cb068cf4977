"""The full pooling comparison on the demo territory, timed: each commune alone vs pooled, four services.

    .venv/bin/python bench/scenarios_bench.py

Needs the demo loaded (`make demo`). Runs `gis_patrimoine.analysis.scenarios.compare` exactly as
`gis-patrimoine analyse compare` does (300 solver iterations per round problem, two problems at a time) and
prints per service the time, the rounds planned and the totals alone and pooled; the target is 60 s in all.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_patrimoine.analysis.scenarios import commune_names, compare, main_activities  # noqa: E402
from gis_patrimoine.db.connection import database_url  # noqa: E402
from gis_patrimoine.settings import get_settings  # noqa: E402


def main() -> None:
    with psycopg.connect(database_url(get_settings())) as conn:
        names = commune_names(conn)
        print(
            f"{'service':<14} {'activity':<14} {'s':>6} {'plans':>6} {'km alone':>9} {'km pooled':>9} "
            f"{'cost alone':>11} {'cost pooled':>11} {'saving':>7}"
        )
        start = time.perf_counter()
        for service, activity in main_activities():
            t0 = time.perf_counter()
            c = compare(conn, service, activity)
            t = c.table(names)
            plans = len(c.alone_plans) + len(c.pooled_plans)
            print(
                f"{service:<14} {activity:<14} {time.perf_counter() - t0:>6.1f} {plans:>6} {t['alone']['km']:>9,.0f} "
                f"{t['pooled']['km']:>9,.0f} {t['alone']['cost_eur']:>11,.0f} {t['pooled']['cost_eur']:>11,.0f} "
                f"{t['saving_pct']['cost_eur']:>6.1f}%"
            )
        total = time.perf_counter() - start
        print(f"all four services: {total:.1f} s (target: under 60 s) — {'met' if total < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
