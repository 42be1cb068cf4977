"""Which commune each feature belongs to, vectorised with a shapely STRtree over the commune boundaries.

A point goes to the commune that contains it; a polygon to the commune holding its largest share; a line
(roads) crossing a boundary is split there so that each commune holds its own part. Whatever lies outside
every commune is refused with that reason.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import psycopg
import shapely
from shapely.ops import substring

OUTSIDE = "outside every commune"
MIN_PIECE_M = 0.01  # pieces shorter than 1 cm (a road touching a boundary) are noise, not parts


@dataclass
class Assigned:
    """One row per output piece: its input row, commune, geometry, and a reason when it is refused."""

    row: np.ndarray
    insee: np.ndarray
    geoms: np.ndarray
    split: np.ndarray  # bool: this piece comes from a split at a boundary
    reason: np.ndarray  # None, or why this piece is refused (it keeps its geometry for the report)


class CommuneIndex:
    def __init__(self, codes: list[str], geoms: list[shapely.Geometry]):
        if not codes:
            raise ValueError("no communes")
        self.codes = np.array(codes, dtype=object)
        self.geoms = np.array(geoms, dtype=object)
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        self.bounds = shapely.total_bounds(self.geoms)

    @classmethod
    def load(cls, conn: psycopg.Connection) -> CommuneIndex | None:
        rows = conn.execute("SELECT insee, ST_AsBinary(geom) FROM patrimoine.commune ORDER BY insee").fetchall()
        if not rows:
            return None
        return cls([r[0] for r in rows], list(shapely.from_wkb([bytes(r[1]) for r in rows])))

    @cached_property
    def tolerant(self) -> np.ndarray:
        """Boundaries widened by a centimetre: a line ending on a boundary (already cut there) is not cut again."""
        return shapely.buffer(self.geoms, MIN_PIECE_M, quad_segs=2)

    def _point_pairs(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(feature, commune) pairs for points: each commune's prepared polygon tests the coordinates inside its
        box (shapely.intersects_xy), several times faster than querying the tree with point geometries."""
        x, y = shapely.get_x(geoms), shapely.get_y(geoms)
        src, tgt = [], []
        for k, (x0, y0, x1, y1) in enumerate(shapely.bounds(self.geoms)):
            near = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            inside = near[shapely.intersects_xy(self.geoms[k], x[near], y[near])]
            src.append(inside)
            tgt.append(np.full(len(inside), k))
        return np.concatenate(src), np.concatenate(tgt)

    def assign(self, geoms: np.ndarray, dimension: int, split_lines: bool) -> Assigned:
        n = len(geoms)
        if dimension == 0 and (shapely.get_type_id(geoms) == 0).all():  # single points
            src, tgt = self._point_pairs(geoms)
        else:
            src, tgt = self.tree.query(geoms, predicate="intersects")
        order = np.lexsort((tgt, src))  # grouped by feature, lowest commune code first (codes are sorted)
        src, tgt = src[order], tgt[order]
        counts = np.bincount(src, minlength=n)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
        hit = counts > 0
        insee = np.full(n, None, dtype=object)
        insee[hit] = self.codes[tgt[starts[hit]]]
        reason = np.where(hit, None, OUTSIDE).astype(object)
        keep = np.ones(n, dtype=bool)
        pieces: list[tuple[int, str | None, shapely.Geometry, str | None]] = []
        if dimension == 1 and split_lines:
            # a line lies in one commune when that commune (widened by a centimetre) covers it, even if it
            # touches a neighbour at its end; otherwise it is cut at the boundaries
            covered = shapely.covered_by(geoms[src], self.tolerant[tgt])
            first_cover = np.full(n, -1)
            first_cover[src[covered][::-1]] = tgt[covered][::-1]  # lowest code wins (pairs are sorted)
            crossing = hit & (first_cover < 0)
            insee[first_cover >= 0] = self.codes[first_cover[first_cover >= 0]]
            keep &= ~crossing

            for i in np.flatnonzero(crossing):
                for code, piece in self._split_line(geoms[i], tgt[starts[i] : starts[i] + counts[i]]):
                    why = None if code else f"{OUTSIDE} (a {shapely.length(piece):.0f} m piece of a longer line)"
                    pieces.append((i, code, piece, why))
        elif dimension == 2:
            for i in np.flatnonzero(counts > 1):
                cands = tgt[starts[i] : starts[i] + counts[i]]
                shares = shapely.area(shapely.intersection(geoms[i], self.geoms[cands]))
                insee[i] = self.codes[cands[np.argmax(shares)]]
        idx = np.flatnonzero(keep)

        def column(k: int, dtype: object) -> np.ndarray:
            return np.array([p[k] for p in pieces], dtype=dtype)

        return Assigned(
            row=np.concatenate([idx, column(0, int)]),
            insee=np.concatenate([insee[idx], column(1, object)]),
            geoms=np.concatenate([geoms[idx], column(2, object)]),
            split=np.concatenate([np.zeros(len(idx), bool), np.ones(len(pieces), bool)]),
            reason=np.concatenate([reason[idx], column(3, object)]),
        )

    def _split_line(self, line: shapely.Geometry, cands: np.ndarray) -> list[tuple[str | None, shapely.Geometry]]:
        """Cut the line where it crosses a boundary. Pieces are substrings of the original line cut at the
        same distances, so that consecutive pieces share their end point exactly (the network stays noded).
        """
        crossings = shapely.intersection(line, shapely.union_all(shapely.boundary(self.geoms[cands])))
        points = [p for p in shapely.get_parts(crossings) if p.geom_type == "Point"]
        points += [
            q
            for p in shapely.get_parts(crossings)
            if p.geom_type == "LineString"
            for q in shapely.points(shapely.get_coordinates(p))
        ]
        cuts = sorted({0.0, line.length, *(float(line.project(p)) for p in points)})
        pieces: list[tuple[str | None, shapely.Geometry]] = []
        for start, end in itertools.pairwise(cuts):
            if end - start < MIN_PIECE_M:
                continue
            piece = substring(line, start, end)
            middle = piece.interpolate(0.5, normalized=True)
            inside = [c for c in cands if self.geoms[c].covers(middle)]
            code = min((self.codes[c] for c in inside), default=None)
            if pieces and pieces[-1][0] == code:  # same commune on both sides of a touch point: one piece
                pieces[-1] = (code, shapely.line_merge(shapely.union_all([pieces[-1][1], piece])))
            else:
                pieces.append((code, piece))
        return pieces
