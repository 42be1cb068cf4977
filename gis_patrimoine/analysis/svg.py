"""Maps drawn as SVG for the printable reports (no script, no basemap): the territory's frame, and GeoJSON
polygons projected into it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class Frame:
    """The communes' extent scaled to `size` pixels on its longer side (y downwards, as SVG draws)."""

    x0: float
    y1: float
    scale: float
    width: float
    height: float

    def point(self, x: float, y: float) -> str:
        return f'x="{(x - self.x0) * self.scale:.1f}" y="{(self.y1 - y) * self.scale:.1f}"'

    def path(self, geojson: str) -> str:
        """The `d` of a (multi)polygon given as GeoJSON."""
        geom = json.loads(geojson)
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        return " ".join(
            "M" + " L".join(f"{(x - self.x0) * self.scale:.1f},{(self.y1 - y) * self.scale:.1f}" for x, y in ring) + "Z"
            for poly in polys
            for ring in poly
        )

    def open(self, label: str, defs: str = "") -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:.0f}" height="{self.height:.0f}" '
            f'role="img" aria-label="{label}">{defs}'
        )


def territory_frame(conn: psycopg.Connection, size: int) -> Frame | None:
    """The frame of the communes' extent, or None when there is no commune."""
    x0, y0, x1, y1 = conn.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom)::geometry e "
        "FROM patrimoine.commune) s"
    ).fetchone()
    if x0 is None:
        return None
    scale = size / max(x1 - x0, y1 - y0, 1)
    return Frame(x0, y1, scale, (x1 - x0) * scale, (y1 - y0) * scale)
