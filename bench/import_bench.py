"""Import benchmark: gis-patrimoine against `ogr2ogr -append` into the same layer table, in the same run.

    .venv/bin/python bench/import_bench.py [--sizes 200000,1000000] [--huge 10000000] [--repeat 2]

The files are what a technician re-imports: a layer exported by `gis-patrimoine export` (GeoPackage, every
field named as its column), made once from synthetic shapefiles (bench/make_data.py) and cached. Each file is
loaded into a fresh copy of a migrated database holding the Laval communes:

- target: `ogr2ogr -append -nln patrimoine.<table> --config PG_USE_COPY YES`, into the layer table with its
  triggers (history, data version), keys, foreign keys, checks and indexes: what any importer pays;
- gis-patrimoine: `gis-patrimoine import <layer> <file>` (validation, commune assignment, duplicates,
  journal, report, one transaction);
- context: `ogr2ogr` into a bare table of a bare PostGIS database (no schema to honour).

It prints the wall time and peak RSS of each command (the best of `--repeat` runs), the ratio of
gis-patrimoine's throughput to the target's (≥ 1.0: as fast), and its memory against ogr2ogr's. A points file
of each size shows whether memory stays flat as files grow; `--huge N` adds one run of N points.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.make_data import write_points, write_polygons  # noqa: E402
from gis_patrimoine.db.connection import database_url, with_dbname  # noqa: E402

GP = str(ROOT / ".venv" / "bin" / "gis-patrimoine")
COMMUNES = ROOT / "gis_patrimoine" / "demo" / "data" / "laval-agglo" / "COMMUNE.shp"
TEMPLATE = "bench_import_template"
LAYERS = {  # layer: (table, make_data writer, id field, mapping of the synthetic shapefile's short names)
    "street_lights": ("street_light", write_points, "light_id", ["mast_height_m=mast_h_m", "installed_year=inst_year"]),
    "green_spaces": ("green_space", write_polygons, "gs_id", []),
}


@dataclass
class Run:
    seconds: float
    peak_mb: int


def measured(cmd: list[str], env: dict | None = None, checkpoint: str | None = None) -> Run:
    """Wall time and peak RSS (MB) of a command that must succeed. The peak is the process's own high-water
    mark (VmHWM), read until it exits: getrusage would report the benchmark's own size, which a forked child
    inherits. `checkpoint`: a database flushed first, so that no run pays for the writes of the one before."""
    if checkpoint:
        with psycopg.connect(checkpoint, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
            peak = max(peak, int(line.split()[1]) // 1024)
        except (OSError, StopIteration):
            pass
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return Run(elapsed, peak)


def recreate(server: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(with_dbname(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_dbname(server, name)


def pg(url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return "PG:" + " ".join(f"{k}={v}" for k, v in info.items() if k in ("host", "port", "user", "password", "dbname"))


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("patrimoine", table))).fetchone()[
            0
        ]


def exported(server: str, workdir: Path, layer: str, n: int) -> Path:
    """The layer exported by gis-patrimoine after importing n synthetic features (made once, cached)."""
    path = workdir / f"{layer}_{n}.gpkg"
    if path.exists():
        return path
    _, writer, id_field, mapping = LAYERS[layer]
    shp = workdir / f"{layer}_{n}.shp"
    if not shp.exists():
        print(f"generating {shp.name} ...", flush=True)
        writer(shp, n)
    print(f"exporting {path.name} ...", flush=True)
    url = recreate(server, "bench_import_seed", TEMPLATE)
    env = {**os.environ, "DATABASE_URL": url}
    maps = [arg for m in mapping for arg in ("--map", m)]
    subprocess.run([GP, "import", layer, str(shp), "--id-field", id_field, *maps], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([GP, "export", layer, str(path)], env=env, check=True, stdout=subprocess.DEVNULL)
    with psycopg.connect(with_dbname(server, "postgres"), autocommit=True) as conn:  # its room for the runs
        conn.execute("DROP DATABASE bench_import_seed WITH (FORCE)")
    return path


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200000,1000000", help="points files (200k polygons are added)")
    parser.add_argument("--polygons", type=int, default=200_000)
    parser.add_argument("--huge", type=int, default=0, help="one more points file of this size, run once")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".data" / "bench-import")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    server = database_url()
    template = recreate(server, TEMPLATE)
    env = {**os.environ, "DATABASE_URL": template}
    subprocess.run([GP, "db", "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([GP, "import", "communes", str(COMMUNES)], env=env, check=True, stdout=subprocess.DEVNULL)

    cases = [("green_spaces", args.polygons, args.repeat)]
    cases += [("street_lights", int(n), args.repeat) for n in args.sizes.split(",")]
    if args.huge:
        cases.append(("street_lights", args.huge, 1))
    results = []
    for layer, n, repeat in cases:
        path = exported(server, args.workdir, layer, n)
        table = LAYERS[layer][0]
        target_runs, ours_runs, bare_runs = [], [], []
        for _ in range(repeat):
            url = recreate(server, "bench_import_ogr2ogr", TEMPLATE)
            target_runs.append(measured(["ogr2ogr", "-append", "-nln", f"patrimoine.{table}", pg(url), str(path),
                                         "--config", "PG_USE_COPY", "YES"], checkpoint=url))  # fmt: skip
            assert count(url, table) == n, f"ogr2ogr loaded {count(url, table)} of {n}"
            url = recreate(server, "bench_import_gp", TEMPLATE)
            ours_runs.append(measured([GP, "import", layer, str(path)], {**os.environ, "DATABASE_URL": url}, url))
            assert count(url, table) == n, f"gis-patrimoine imported {count(url, table)} of {n}"
            bare = recreate(server, "bench_import_bare")
            with psycopg.connect(bare, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION postgis")
            bare_cmd = ["ogr2ogr", "-f", "PostgreSQL", pg(bare), str(path), "-nln", table,
                        "-lco", "GEOMETRY_NAME=geom", "--config", "PG_USE_COPY", "YES"]  # fmt: skip
            bare_runs.append(measured(bare_cmd, checkpoint=bare))
        target, ours, bare_run = best(target_runs), best(ours_runs), best(bare_runs)
        results.append((path.name, n, target, ours, bare_run))
        print(
            f"{path.name}: ogr2ogr -append {target.seconds:.1f} s / {target.peak_mb} MB, gis-patrimoine "
            f"{ours.seconds:.1f} s / {ours.peak_mb} MB, ogr2ogr bare {bare_run.seconds:.1f} s "
            f"(runs: {', '.join(f'{r.seconds:.1f}' for r in ours_runs)} vs "
            f"{', '.join(f'{r.seconds:.1f}' for r in target_runs)})",
            flush=True,
        )
    with psycopg.connect(with_dbname(server, "postgres"), autocommit=True) as conn:
        for name in ("bench_import_ogr2ogr", "bench_import_gp", "bench_import_bare", "bench_import_seed", TEMPLATE):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    print()
    print(f"{'file':<30} {'features':>10} {'ogr2ogr -append':>16} {'gis-patrimoine':>15} {'ratio':>6} "
          f"{'RSS ogr2ogr':>11} {'RSS ours':>9} {'RSS ratio':>9} {'bare ogr2ogr':>13}")  # fmt: skip
    for name, n, target, ours, bare_run in results:
        print(
            f"{name:<30} {n:>10,} {target.seconds:>14.1f} s {ours.seconds:>13.1f} s "
            f"{target.seconds / ours.seconds:>6.2f} {target.peak_mb:>8} MB {ours.peak_mb:>6} MB "
            f"{ours.peak_mb / target.peak_mb:>9.2f} {bare_run.seconds:>11.1f} s"
        )
    points = [(n, ours.peak_mb) for name, n, _, ours, _ in results if name.startswith("street_lights")]
    if len(points) > 1:
        (n0, m0), (n1, m1) = points[0], points[-1]
        print(f"\ngis-patrimoine's peak memory, {n1:,} points vs {n0:,}: {m1} MB vs {m0} MB ({m1 / m0:.2f}x)")
    print("ratio: ogr2ogr -append's time / gis-patrimoine's (≥ 1.00: gis-patrimoine as fast or faster)")


if __name__ == "__main__":
    main()
