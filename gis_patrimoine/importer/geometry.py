"""Vectorised geometry normalisation: 2D, reprojected, valid, of the layer's type.

Runs on whole Arrow batches with shapely 2 (GEOS) and pyproj, never feature by feature in Python.
Each feature ends up either accepted (possibly repaired, possibly split into parts for single-part layers)
or refused with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Transformer

DIMENSION = {"Point": 0, "MultiPoint": 0, "LineString": 1, "MultiLineString": 1, "Polygon": 2, "MultiPolygon": 2}
TYPE_NAMES = {0: "point", 1: "line", 2: "polygon"}


@dataclass
class GeometryBatch:
    """Result for a batch: one row per accepted part, plus refusals indexed by input position."""

    index: np.ndarray  # input position of each output row
    part: np.ndarray  # 0 for a whole feature, 1..n for the parts of a split multi-geometry
    nparts: np.ndarray  # number of parts its feature was split into
    geoms: np.ndarray  # shapely geometries in the storage CRS
    repaired: np.ndarray  # bool per output row
    refused_index: np.ndarray
    refused_reason: np.ndarray
    dropped_z: int


class Normaliser:
    """Normalises geometries from `source_crs` into the layer's `geometry_type` in `target_srid`."""

    def __init__(self, source_crs: CRS, target_srid: int, geometry_type: str):
        self.geometry_type = geometry_type
        self.dimension = DIMENSION[geometry_type]
        self.multi = geometry_type.startswith("Multi")
        target = CRS.from_epsg(target_srid)
        self.transformer = (
            None if source_crs.equals(target) else Transformer.from_crs(source_crs, target, always_xy=True)
        )

    def reproject(self, geoms: np.ndarray) -> np.ndarray:
        if self.transformer is None:
            return geoms
        transform = self.transformer.transform

        def fn(coords: np.ndarray) -> np.ndarray:
            x, y = transform(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geoms, fn)

    def _keep_dimension(self, geoms: np.ndarray) -> np.ndarray:
        """From a repaired geometry (maybe a collection), keep only the parts of the layer's dimension."""
        out = geoms.copy()
        mixed = shapely.get_type_id(geoms) == 7  # GeometryCollection
        for i in np.flatnonzero(mixed):
            parts = shapely.get_parts(geoms[i])
            keep = parts[shapely.get_dimensions(parts) == self.dimension]
            out[i] = shapely.union_all(keep) if len(keep) else shapely.from_wkt("GEOMETRYCOLLECTION EMPTY")
        return out

    def run(self, wkb: np.ndarray) -> GeometryBatch:
        n = len(wkb)
        reasons = np.full(n, None, dtype=object)
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
        missing = shapely.is_missing(geoms)
        reasons[missing] = "no geometry (null)"
        empty = ~missing & shapely.is_empty(geoms)
        reasons[empty] = "empty geometry"
        ok = reasons == None  # noqa: E711 (elementwise)
        has_z = ok & shapely.has_z(geoms)
        dropped_z = int(has_z.sum())
        if dropped_z:
            geoms[has_z] = shapely.force_2d(geoms[has_z])
        dims = np.full(n, -1)
        dims[ok] = shapely.get_dimensions(geoms[ok])
        type_ids = shapely.get_type_id(geoms)
        wrong = ok & (dims != self.dimension) & (type_ids != 7)
        for i in np.flatnonzero(wrong):
            reasons[i] = f"wrong geometry type: {geoms[i].geom_type} in a layer of {self.geometry_type}"
        ok &= ~wrong
        geoms[ok] = self.reproject(geoms[ok])
        invalid = ok & ~shapely.is_valid(geoms)
        repaired = np.zeros(n, dtype=bool)
        if invalid.any():
            fixed = shapely.make_valid(geoms[invalid])
            fixed = self._keep_dimension(fixed)
            geoms[invalid] = fixed
            bad = shapely.is_empty(fixed) | (shapely.get_dimensions(fixed) != self.dimension)
            idx = np.flatnonzero(invalid)
            reasons[idx[bad]] = (
                "invalid geometry that cannot be repaired without losing its " + TYPE_NAMES[self.dimension]
            )
            repaired[idx[~bad]] = True
        collections = ok & (shapely.get_type_id(geoms) == 7) & ~invalid
        for i in np.flatnonzero(collections):
            kept = self._keep_dimension(geoms[i : i + 1])[0]
            if shapely.is_empty(kept):
                reasons[i] = f"geometry collection with no {TYPE_NAMES[self.dimension]}"
            else:
                geoms[i] = kept
        ok = reasons == None  # noqa: E711
        return self._shape(np.flatnonzero(ok), geoms, repaired, reasons, dropped_z)

    def _shape(
        self, idx: np.ndarray, geoms: np.ndarray, repaired: np.ndarray, reasons: np.ndarray, dropped_z: int
    ) -> GeometryBatch:
        """Split multi-part geometries for single-part layers (promotion to multi is ST_Multi, in SQL)."""
        g = geoms[idx]
        refused = np.flatnonzero(reasons != None)  # noqa: E711
        if self.multi:
            ones = np.ones(len(idx), dtype=np.int32)
            return GeometryBatch(
                idx, np.zeros(len(idx), np.int32), ones, g, repaired[idx], refused, reasons[refused], dropped_z
            )
        if self.dimension == 1:
            is_multi = shapely.get_type_id(g) == 5
            if is_multi.any():
                g = g.copy()
                g[is_multi] = shapely.line_merge(g[is_multi])
        parts, owner = shapely.get_parts(g, return_index=True)
        counts = np.bincount(owner, minlength=len(g))
        nparts = counts[owner]
        part = np.zeros(len(parts), dtype=np.int32)
        multi = nparts > 1
        if multi.any():
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            part[multi] = (np.arange(len(parts)) - starts[owner])[multi] + 1
        return GeometryBatch(
            idx[owner], part, nparts.astype(np.int32), parts, repaired[idx][owner], refused, reasons[refused], dropped_z
        )
