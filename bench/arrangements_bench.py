"""The pooling arrangements on the demo territory with its diagnostic, timed: every arrangement the product
proposes, the four services and all their activities, with the ranges.

    .venv/bin/python bench/arrangements_bench.py [--picture docs/arrangements-report.png]

Needs the demo loaded (`make demo`). Runs `gis_patrimoine.arrangements.run.compare` exactly as
`gis-patrimoine analyse arrangements` does (150 solver iterations per round problem, two problems at a time,
200 draws of the assumptions), stores it, writes the director's report, and prints the arrangements side by
side and the time against the target of 5 minutes on a 2-core machine. The reference measured in the same run:
the old per-activity "alone vs pooled" comparison of one activity (lighting inspection), for the cost of a
round problem then and now. With `--picture`, headless Chromium renders the report to a PNG.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_patrimoine.analysis.scenarios import compare as scenario  # noqa: E402
from gis_patrimoine.arrangements.report import render  # noqa: E402
from gis_patrimoine.arrangements.run import compare  # noqa: E402
from gis_patrimoine.arrangements.store import load, store  # noqa: E402
from gis_patrimoine.db.connection import database_url  # noqa: E402
from gis_patrimoine.settings import get_settings  # noqa: E402

TARGET_S = 300.0
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]  # fmt: skip


def eur(v: float) -> str:
    return f"{v:,.0f}".replace(",", " ")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--picture", type=Path, help="render the report to this PNG")
    parser.add_argument("--iterations", type=int, default=150)
    args = parser.parse_args()
    with psycopg.connect(database_url(get_settings())) as conn:
        t0 = time.perf_counter()
        old = scenario(conn, "lighting", "inspection", iterations=args.iterations)
        old_s = time.perf_counter() - t0
        old_plans = len(old.alone_plans) + len(old.pooled_plans)
        steps: list[tuple[float, int, int]] = []
        start = time.perf_counter()

        def progress(done: int, total: int, label: str) -> None:
            steps.append((time.perf_counter() - start, done, total))

        result = compare(conn, iterations=args.iterations, progress=progress)
        total_s = time.perf_counter() - start
        run_id = store(conn, result)
        report = Path(tempfile.gettempdir()) / f"arrangements-{run_id}.html"
        report.write_text(render(conn, load(conn, run_id)), encoding="utf-8")
    planned = max((s for s in steps if s[2] > 1), key=lambda s: s[1], default=(0.0, 0, 0))
    problems = result["solver"]["problems"]
    head = ("arrangement", "€ a year", "range 10–90 %", "saving", "posts", "seas.m", "machines", "depots", "km",
            "CO2 t", "one-off €", "payback", "best")  # fmt: skip
    widths = (-16, 11, 23, 8, 5, 6, 8, 6, 7, 6, 10, 7, 5)
    print(" ".join(f"{h:<{-w}}" if w < 0 else f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
    for a in result["arrangements"]:
        pay = "—" if a["payback_years"] is None else f"{a['payback_years']:g} y"
        print(
            f"{a['name']:<16} {eur(a['total_eur']):>11} {eur(a['range_eur'][0]) + ' – ' + eur(a['range_eur'][1]):>23} "
            f"{a['saving_pct']:>+7.1f}% {a['posts_total']:>5} {a['seasonal_months']:>6} "
            f"{sum(a['machines_needed'].values()):>8} {len(a['depots_kept']):>6} {eur(a['km']):>7} {a['co2_t']:>6.1f} "
            f"{eur(a['one_off_eur']):>10} {pay:>7} {a['best_share']:>5.0%}"
        )
    rob = result["robustness"]
    print(f"cheapest: {rob['best']} in {rob['best_share']:.0%} of {rob['draws']} draws; same full order in "
          f"{rob['same_order_share']:.0%}; solver spread {result['solver']['spread']:.1%}")  # fmt: skip
    declared = result["declared_status_quo"]
    print(f"status quo as declared: {eur(declared['total_eur'])} € a year, {eur(declared['undone_h'])} h of "
          f"{eur(declared['work_needed_h'])} h left undone")  # fmt: skip
    print(f"round problems: {problems} solved in {planned[0]:.0f} s ({planned[0] / max(problems, 1):.2f} s each); "
          f"reference — one activity alone vs pooled (lighting inspection): {old_plans} problems in {old_s:.0f} s "
          f"({old_s / max(old_plans, 1):.2f} s each)")  # fmt: skip
    print(f"the full comparison: {total_s:.0f} s (target: under {TARGET_S:.0f} s on 2 cores) — "
          f"{'met' if total_s < TARGET_S else 'NOT met'}; report: {report}")  # fmt: skip
    if args.picture:
        args.picture.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*CHROMIUM, f"--screenshot={args.picture}", "--window-size=1240,2600", report.as_uri()],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        print(f"picture: {args.picture}")


if __name__ == "__main__":
    main()
