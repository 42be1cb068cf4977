"""Break the code on purpose, one place at a time, and check that the test written for that promise fails.

`make mutants` (or `.venv/bin/python -m tests.mutants [NAME ...]`): for each mutant, the test that guards it
must pass on the code as it is; then one exact piece of a product file is replaced, the test must fail on an
assertion (pytest's exit 1, not an error), and the file is put back whatever happens (signals included). The
files must be committed first. A mutant the test does not kill is a test that cannot fail on its promise: the
run exits 1 and names it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    test: str


MUTANTS = [
    Mutant(
        "the direct path inserting into a source the layer already holds",
        "gis_patrimoine/importer/run.py",
        "if mine != converter.inserted:",
        "if False:",
        "tests/test_import_direct.py::test_what_takes_the_staged_path",
    ),
    Mutant(
        "the direct path not asking first whether the layer holds the file's source",
        "gis_patrimoine/importer/run.py",
        "if plan.row_source_index is None and conn.execute(held, (report.source,)).fetchone()[0]:",
        "if False:",
        "tests/test_import_direct.py::test_what_takes_the_staged_path",
    ),
    Mutant(
        "the direct path trusting a value that does not parse",
        "gis_patrimoine/importer/direct.py",
        "if not pc.all(pc.fill_null(ok, True)).as_py():",
        "if False:",
        "tests/test_import_direct.py::test_the_direct_path_hands_over_to_the_staged_path_and_leaves_nothing",
    ),
    Mutant(
        "small features kept at low zoom",
        "gis_patrimoine/collection/tile_sql.py",
        "min_size = t.min_size_px * px * scale if z < DETAIL_ZOOM else 0.0",
        "min_size = 0.0",
        "tests/test_api_tiles.py::test_small_features_dropped_below_the_detail_zoom",
    ),
    Mutant(
        "tiles without their buffer",
        "gis_patrimoine/collection/tile_sql.py",
        "bounds.merc, {extent}, {buffer}, true)",
        "bounds.merc, {extent}, 0, true)",
        "tests/test_api_tiles.py::test_tile_holds_exactly_the_features_of_its_buffered_envelope",
    ),
    Mutant(
        "the cap keeps any features",
        "gis_patrimoine/collection/tile_sql.py",
        'sql.SQL("{} DESC, {}").format(size, sql.Identifier(idcol)) if size is not None else sql.Identifier(idcol)',
        "sql.Identifier(idcol)",
        "tests/test_api_tiles.py::test_a_capped_tile_keeps_the_longest_roads",
    ),
    Mutant(
        "no limit cap",
        "gis_patrimoine/api/features.py",
        "limit = min(limit or settings.default_limit, settings.max_limit)",
        "limit = limit or settings.default_limit",
        "tests/test_api_features.py::test_limit_is_capped",
    ),
    Mutant(
        "cost shared by use instead of the stand-alone key",
        "gis_patrimoine/analysis/scenarios.py",
        'pays = round(a["cost_eur"] * ratio, 0)',
        "pays = round(used[code], 0)",
        "tests/test_scenarios.py::test_savings_and_cost_sharing_worked_out_by_hand",
    ),
    Mutant(
        "losers not in red",
        "gis_patrimoine/analysis/report.py",
        "RED = \" style='color:#c92a2a;font-weight:bold'\"",
        'RED = ""',
        "tests/test_zones.py::test_scenario_report_for_directors",
    ),
    Mutant(
        "ties to the highest id",
        "gis_patrimoine/analysis/network.py",
        "ORDER BY round(k.knn::numeric, 6), k.id LIMIT 1",
        "ORDER BY round(k.knn::numeric, 6), k.id DESC LIMIT 1",
        "tests/test_noding.py::test_an_asset_as_near_two_roads_goes_to_the_lower_id_after_any_rebuild",
    ),
    Mutant(
        "imports into one layer interleave",
        "gis_patrimoine/importer/run.py",
        """conn.execute("SELECT pg_advisory_xact_lock(hashtext('gis_patrimoine.import.' || %s))", (table,))""",
        "pass",
        "tests/test_reliability.py::test_concurrent_imports_and_an_api_edit_end_consistent",
    ),
    Mutant(
        "a polygon to its first commune",
        "gis_patrimoine/importer/assign.py",
        "insee[i] = self.codes[cands[np.argmax(shares)]]",
        "insee[i] = self.codes[cands[0]]",
        "tests/test_import_options.py::test_a_polygon_goes_to_the_commune_holding_its_largest_share",
    ),
    Mutant(
        "non-UTF-8 text let through",
        "gis_patrimoine/importer/source.py",
        'with path.open("rb") as f:\n                _check_utf8(f, path)',
        'with path.open("rb") as f:\n                pass',
        "tests/test_import_options.py::test_a_latin1_csv_is_read_with_encoding",
    ),
    Mutant(
        "encoding names passed to GDAL as typed",
        "gis_patrimoine/importer/source.py",
        "        encoding = gdal_encoding(encoding, path)",
        "        pass",
        "tests/test_import_options.py::test_encoding_option_overrides_the_guess",
    ),
    Mutant(
        "the agglomération in partial comparisons",
        "gis_patrimoine/arrangements/propose.py",
        "if has_agglo and AGGLO in",
        "if AGGLO in",
        "tests/test_arrangements.py::test_the_proposals_on_the_demo_follow_their_rules",
    ),
    Mutant(
        "left-out work not counted",
        "gis_patrimoine/arrangements/run.py",
        "planned.unreachable |= {(name, i) for i in ids}",
        "planned.unreachable |= set()",
        "tests/test_arrangements.py::test_work_no_depot_does_is_left_out_said_and_flagged",
    ),
    Mutant(
        "uvicorn writing straight to the log sink",
        "gis_patrimoine/cli/serve.py",
        "        log_config=None,",
        "        log_config=uvicorn.config.LOGGING_CONFIG,",
        "tests/test_service_strain.py::test_a_log_sink_nobody_reads_delays_log_lines_never_requests",
    ),
    Mutant(
        "isochrones of what lies beyond the limit",
        "gis_patrimoine/analysis/areas.py",
        '"WHERE c.cost <= m * 60 GROUP BY d.id, d.name, m "',
        '"WHERE c.cost >= m * 60 GROUP BY d.id, d.name, m "',
        "tests/test_zones.py::test_catchments_partition_the_territory_and_isochrones_grow",
    ),
    Mutant(
        "the version clock answering from what it saw last",
        "gis_patrimoine/collection/clock.py",
        "versions = await self._query()",
        "versions = dict(self.latest) or await self._query()",
        "tests/test_clock.py::test_reads_are_shared_and_never_stale",
    ),
    Mutant(
        "balanced zones not shortened",
        "gis_patrimoine/analysis/zones.py",
        "            return _shorten(zone, load, target, tolerance, cells, cost, home, homes)",
        "            return zone",
        "tests/test_zones.py::test_once_balanced_border_cells_go_to_the_depot_nearer_by_road",
    ),
    Mutant(
        "a restore not in one transaction",
        "gis_patrimoine/db/backup.py",
        '            "--single-transaction",\n',
        "",
        "tests/test_reliability.py::test_backup_and_restore_round_trip",
    ),
]


def _pytest(test: str) -> int:
    """Exit code of one test: 0 passed, 1 failed; anything else (interrupted, not collected) is no verdict."""
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:randomly", "-p", "no:cacheprovider", test]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True).returncode


def run(mutant: Mutant) -> bool:
    """True when the test passes on the code as it is and fails (exit 1: an assertion) against the mutant."""
    path = ROOT / mutant.file
    if subprocess.run(["git", "diff", "--quiet", "--", mutant.file], cwd=ROOT).returncode != 0:
        raise SystemExit(f"{mutant.file} has uncommitted changes: commit or stash them first")
    original = path.read_text()
    if original.count(mutant.old) != 1:
        raise SystemExit(f"{mutant.name}: the piece to replace is not found once in {mutant.file}")
    baseline = _pytest(mutant.test)
    if baseline != 0:
        raise SystemExit(f"{mutant.test} does not pass on the code as it is (exit {baseline})")

    def restore(*_: object) -> None:
        path.write_text(original)
        raise SystemExit(f"interrupted: {mutant.file} restored")

    previous = {sig: signal.signal(sig, restore) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        path.write_text(original.replace(mutant.old, mutant.new))
        code = _pytest(mutant.test)
    finally:
        path.write_text(original)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code not in (0, 1):
        raise SystemExit(f"{mutant.name}: no verdict (pytest exit {code})")
    return code == 1


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    survived = []
    for m in chosen:
        killed = run(m)
        print(f"{'killed  ' if killed else 'SURVIVED'}  {m.name:<50} {m.test}", flush=True)
        if not killed:
            survived.append(m.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
