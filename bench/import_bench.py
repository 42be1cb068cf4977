"""Import benchmark: gis-patrimoine vs ogr2ogr (COPY mode) on the same server, same target SRID.

    .venv/bin/python bench/import_bench.py [--points 1000000] [--polygons 200000] [--workdir DIR]

Generates the shapefiles (bench/make_data.py), then for each one imports it with `ogr2ogr -f PostgreSQL`
into a bare PostGIS database and with `gis-patrimoine import` into a migrated database holding the Laval
communes, and prints features/s for both, their ratio, and gis-patrimoine's peak memory (RSS). It also times the
schema floor: PostgreSQL alone inserting the same rows, already typed, into the empty layer table. A points
file of the polygons' size is imported too, to show that memory does not grow with the file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.make_data import write_points, write_polygons  # noqa: E402
from gis_patrimoine.db.connection import database_url, with_dbname  # noqa: E402

GP = str(ROOT / ".venv" / "bin" / "gis-patrimoine")
COMMUNES = ROOT / "gis_patrimoine" / "demo" / "data" / "laval-agglo" / "COMMUNE.shp"


def run(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """Wall time and peak RSS (MB) of a command, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out}\n{err}")
    return elapsed, usage.ru_maxrss // 1024


def schema_floor(url: str, table: str) -> float:
    """Seconds PostgreSQL alone takes to insert the imported rows, already typed and checked, into the empty
    layer table with its indexes, foreign keys, checks and history: what any importer into this schema pays,
    before reading a byte of the file. Measured in a transaction that is rolled back."""
    with psycopg.connect(url) as conn:
        cols = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'patrimoine' "
                "AND table_name = %s AND is_identity = 'NO' AND is_generated = 'NEVER' "
                "AND column_name NOT IN ('uuid', 'created_at', 'updated_at', 'updated_by') ORDER BY ordinal_position",
                (table,),
            )
        ]
        names = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
        target = sql.Identifier("patrimoine", table)
        conn.execute(sql.SQL("CREATE TEMP TABLE floor_rows AS SELECT {} FROM {}").format(names, target))
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(target))
        start = time.perf_counter()
        conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM floor_rows").format(target, names, names))
        elapsed = time.perf_counter() - start
        conn.rollback()
    return elapsed


def fresh_db(server: str, name: str) -> str:
    with psycopg.connect(with_dbname(server, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_dbname(server, name)


def pg_conninfo(url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return "PG:" + " ".join(f"{k}={v}" for k, v in info.items() if k in ("host", "port", "user", "password", "dbname"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--polygons", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".data" / "bench-import")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    files = [
        (
            "green_spaces",
            args.workdir / f"green_spaces_{args.polygons}.shp",
            "gs_id",
            [],
            write_polygons,
            args.polygons,
        ),
        (
            "street_lights",
            args.workdir / f"street_lights_{args.polygons}.shp",
            "light_id",
            ["--map", "mast_height_m=mast_h_m", "--map", "installed_year=inst_year"],
            write_points,
            args.polygons,
        ),
        (
            "street_lights",
            args.workdir / f"street_lights_{args.points}.shp",
            "light_id",
            ["--map", "mast_height_m=mast_h_m", "--map", "installed_year=inst_year"],
            write_points,
            args.points,
        ),
    ]
    for _, path, _, _, writer, n in files:
        if not path.exists():
            print(f"generating {path.name} ...", flush=True)
            writer(path, n)

    server = database_url()
    rows = []
    for layer, path, id_field, extra, _, n in files:
        ogr_url = fresh_db(server, "bench_ogr2ogr")
        with psycopg.connect(ogr_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        nlt = ["-nlt", "PROMOTE_TO_MULTI"] if layer == "green_spaces" else []
        ogr_s, _ = run(
            [
                "ogr2ogr",
                "-f",
                "PostgreSQL",
                pg_conninfo(ogr_url),
                str(path),
                "-nln",
                layer,
                "-lco",
                "GEOMETRY_NAME=geom",
                "-lco",
                "SPATIAL_INDEX=GIST",
                "-t_srs",
                "EPSG:2154",
                "--config",
                "PG_USE_COPY",
                "YES",
                *nlt,
            ]
        )
        gp_url = fresh_db(server, "bench_gis_patrimoine")
        env = {**os.environ, "DATABASE_URL": gp_url}
        run([GP, "db", "init"], env)
        run([GP, "import", "communes", str(COMMUNES)], env)
        gp_s, gp_mb = run([GP, "import", layer, str(path), "--id-field", id_field, *extra], env)
        with psycopg.connect(gp_url) as conn:
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("patrimoine", layer[:-1]))
            ).fetchone()[0]
        assert count == n, f"gis-patrimoine imported {count} of {n}"
        floor_s = schema_floor(gp_url, layer[:-1])
        rows.append((path.name, n, ogr_s, gp_s, gp_mb, floor_s))
        print(
            f"{path.name}: ogr2ogr {ogr_s:.1f} s, gis-patrimoine {gp_s:.1f} s, schema floor {floor_s:.1f} s", flush=True
        )

    print()
    print(
        f"{'file':<28} {'features':>10} {'ogr2ogr f/s':>12} {'gis-patrimoine f/s':>19} {'ratio':>6} {'peak MB':>8} "
        f"{'floor s':>8} {'gp/floor':>8}"
    )
    for name, n, ogr_s, gp_s, mb, floor_s in rows:
        print(
            f"{name:<28} {n:>10,} {n / ogr_s:>12,.0f} {n / gp_s:>19,.0f} {ogr_s / gp_s:>6.2f} {mb:>8} "
            f"{floor_s:>8.1f} {gp_s / floor_s:>8.2f}"
        )
    small, large = rows[1], rows[2]
    print(f"\npeak memory, {large[1]:,} points vs {small[1]:,} points: {large[4] / small[4]:.2f}x")
    print(
        "floor: PostgreSQL alone inserting the same rows, already typed, into the empty layer table (indexes, "
        "foreign keys, checks, history), rolled back"
    )


if __name__ == "__main__":
    main()
