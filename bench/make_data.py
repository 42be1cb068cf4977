"""Synthetic shapefiles for the import benchmark: N street lights (points) and N green spaces (polygons).

Features fall inside the 20 Laval communes (Lambert-93; boundaries shipped with the demo), with short field
names as a shapefile has them. Deterministic for a seed; written in chunks so memory stays flat.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyogrio
import shapely

COMMUNES = Path(__file__).resolve().parents[1] / "gis_patrimoine" / "demo" / "data" / "laval-agglo" / "COMMUNE.shp"
TERRITORY = shapely.union_all(shapely.from_wkb(pyogrio.raw.read(COMMUNES)[2])).buffer(-50)

shapely.prepare(TERRITORY)
XMIN, YMIN, XMAX, YMAX = TERRITORY.bounds


def inside(rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
    """m random points inside the territory (rejection sampling)."""
    xs, ys = [], []
    while sum(len(x) for x in xs) < m:
        x, y = rng.uniform(XMIN, XMAX, 2 * m), rng.uniform(YMIN, YMAX, 2 * m)
        ok = shapely.contains_xy(TERRITORY, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
    return np.concatenate(xs)[:m], np.concatenate(ys)[:m]


LAMPS = np.array(["led", "hps", "metal_halide", "lps", "mercury"])
KINDS = np.array(["park", "sports_ground", "cemetery", "verge", "roundabout", "meadow"])


def _write(path: Path, geom: np.ndarray, fields: dict, geometry_type: str, append: bool) -> None:
    pyogrio.raw.write(
        path,
        shapely.to_wkb(geom),
        list(fields.values()),
        fields=list(fields),
        crs="EPSG:2154",
        driver="ESRI Shapefile",
        geometry_type=geometry_type,
        encoding="UTF-8",
        append=append,
    )


def write_points(path: Path, n: int, seed: int = 1, chunk: int = 250_000) -> None:
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        geom = shapely.points(*inside(rng, m))
        fields = {
            "light_id": np.arange(start, start + m, dtype=np.int64),
            "lamp_type": LAMPS[rng.integers(0, len(LAMPS), m)],
            "power_w": rng.integers(20, 250, m).astype(np.int32),
            "mast_h_m": np.round(rng.uniform(3, 12, m), 1),
            "inst_year": rng.integers(1975, 2025, m).astype(np.int32),
        }
        _write(path, geom, fields, "Point", append=start > 0)


def write_polygons(path: Path, n: int, seed: int = 2, chunk: int = 100_000) -> None:
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, 9)[:-1]
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        cx, cy = inside(rng, m)

        radius = rng.uniform(5, 40, (m, 1)) * rng.uniform(0.7, 1.0, (m, len(angles)))
        xs = cx[:, None] + radius * np.cos(angles)
        ys = cy[:, None] + radius * np.sin(angles)
        coords = np.stack([xs, ys], axis=-1)
        coords = np.concatenate([coords, coords[:, :1]], axis=1)
        geom = shapely.polygons(coords)
        fields = {
            "gs_id": np.arange(start, start + m, dtype=np.int64),
            "kind": KINDS[rng.integers(0, len(KINDS), m)],
            "name": np.array([f"Espace vert n°{i}" for i in range(start, start + m)], dtype=object),
        }
        _write(path, geom, fields, "Polygon", append=start > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--polygons", type=int, default=200_000)
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    write_points(args.outdir / f"street_lights_{args.points}.shp", args.points)
    write_polygons(args.outdir / f"green_spaces_{args.polygons}.shp", args.polygons)


if __name__ == "__main__":
    main()
