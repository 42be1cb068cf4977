"""Commune assignment of points: the prepared-polygon path gives what the tree gives, boundaries included."""

from __future__ import annotations

import numpy as np
import shapely

from gis_patrimoine.importer.assign import OUTSIDE, CommuneIndex


def test_points_on_boundaries_inside_and_outside() -> None:
    west, east = shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)
    index = CommuneIndex(["53001", "53002"], [west, east])
    points = shapely.points([(5, 5), (15, 5), (10, 5), (10, 10), (25, 5), (0, 0)])
    fast = index.assign(points, 0, split_lines=False)
    assert list(fast.insee) == ["53001", "53002", "53001", "53001", None, "53001"]  # a shared edge: lowest code
    assert list(fast.reason) == [None, None, None, None, OUTSIDE, None]
    # the general path (the STRtree, as for lines and polygons) agrees on the same points
    tree = index.assign(shapely.multipoints(points[:, np.newaxis]), 0, split_lines=False)
    assert list(tree.insee) == list(fast.insee) and list(tree.reason) == list(fast.reason)
