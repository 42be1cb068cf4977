"""Helpers for the import tests: small files built on the fly, and database checksums."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pyogrio
import shapely

LAYER_TABLES = ("commune", "depot", "road", "street_light", "green_space", "building", "tree", "litter_bin", "gully")

# Inside Laval (53130), Lambert-93.
LAVAL_X, LAVAL_Y = 420_500.0, 6_779_000.0


def checksum(url: str) -> dict[str, str]:
    """A fingerprint of every layer and of the history: equal before and after means nothing was written."""
    with psycopg.connect(url) as conn:
        sums = {
            t: conn.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "  # noqa: S608
                f"FROM patrimoine.{t} t"
            ).fetchone()[0]
            for t in LAYER_TABLES
        }
        sums["history"] = str(conn.execute("SELECT count(*) FROM patrimoine_sys.history").fetchone()[0])
        sums["versions"] = str(
            conn.execute("SELECT array_agg(version ORDER BY layer) FROM patrimoine_sys.data_version").fetchone()[0]
        )
    return sums


def write_layer(
    path: Path,
    geoms: list,
    fields: dict[str, list],
    crs: str | None = "EPSG:2154",
    geometry_type: str = "Unknown",
    driver: str | None = None,
    **kwargs,
) -> Path:
    """Write a small file with pyogrio (format from the extension)."""
    wkb = np.array(
        [None if g is None else shapely.to_wkb(g if not isinstance(g, str) else shapely.from_wkt(g)) for g in geoms],
        dtype=object,
    )
    arrays = [np.array(v, dtype=object) for v in fields.values()]
    pyogrio.raw.write(
        path, wkb, arrays, fields=list(fields), crs=crs, geometry_type=geometry_type, driver=driver, **kwargs
    )
    return path


def road(dx: float, length: float = 100.0) -> str:
    x, y = LAVAL_X + dx, LAVAL_Y
    return f"LINESTRING({x} {y}, {x + length} {y})"
