"""Trees, litter bins and gullies of the demo territory, placed where a commune has them.

Trees line the main streets (every 10–14 m, both sides) and stand in parks, gardens, cemeteries and
playgrounds; litter bins are in the town centre (one per street), at bus stops along the main roads, at
schools and in parks, and in one residential street in eight; gullies follow the kerbs of the urban streets
every 30–50 m. Each function draws from its own random stream, so the other layers stay as they were.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from gis_patrimoine.demo.territory import CENTRAL_COMMUNE, Commune

YEAR = 2025
GENERA = {  # genus: (share of the trees, species) — the usual street and park trees of western France
    "Tilia": (0.17, ["Tilia cordata", "Tilia platyphyllos", "Tilia x euchlora"]),
    "Acer": (0.16, ["Acer platanoides", "Acer campestre", "Acer pseudoplatanus"]),
    "Platanus": (0.13, ["Platanus x hispanica"]),
    "Quercus": (0.10, ["Quercus robur", "Quercus rubra"]),
    "Carpinus": (0.08, ["Carpinus betulus"]),
    "Prunus": (0.08, ["Prunus avium", "Prunus serrulata"]),
    "Fraxinus": (0.07, ["Fraxinus excelsior", "Fraxinus angustifolia"]),
    "Betula": (0.06, ["Betula pendula"]),
    "Aesculus": (0.05, ["Aesculus hippocastanum"]),
    "Liquidambar": (0.05, ["Liquidambar styraciflua"]),
    "Pinus": (0.05, ["Pinus nigra", "Pinus pinea"]),
}
TREE_SPACING_M = 12.0  # along the main streets, both sides
PARK_M2_PER_TREE = 300.0
PARK_KINDS = ("park", "garden", "cemetery", "playground")
BUS_STOP_SPACING_M = 450.0
BIN_EVERY_NTH_STREET = 8  # residential streets: a bin on one street segment in eight
PARK_M2_PER_BIN = 6000.0
GULLY_TYPES, GULLY_SHARES = ("grate", "kerb_inlet", "grate_and_kerb", "channel_drain"), (0.45, 0.35, 0.15, 0.05)


def along(
    segs: np.ndarray, spacing: float, offset: float, both: np.ndarray, rounding: np.ufunc = np.floor
) -> np.ndarray:
    """Points every `spacing` metres along each segment (the first half a spacing in; as many as `rounding` of
    length ÷ spacing, at least one), `offset` metres to alternating sides, and to both sides of the segments
    where `both` holds. Vectorised: street lights, trees and gullies are placed by it."""
    if not len(segs):
        return np.zeros((0, 2))
    vec = segs[:, 1] - segs[:, 0]
    length = np.hypot(vec[:, 0], vec[:, 1])
    counts = np.maximum(1, rounding(length / spacing)).astype(int)
    seg = np.repeat(np.arange(len(segs)), counts)
    k = np.arange(len(seg)) - np.repeat(np.cumsum(counts) - counts, counts)
    unit = vec[seg] / length[seg, None]
    normal = np.stack([-unit[:, 1], unit[:, 0]], axis=1)
    base = segs[seg, 0] + unit * (spacing / 2 + k * spacing)[:, None]
    side = np.where(k % 2 == 0, 1.0, -1.0)[:, None]
    return np.concatenate([base + normal * side * offset, (base - normal * side * offset)[both[seg]]])


def _midpoints(segs: np.ndarray, offset: float) -> np.ndarray:
    """One point per segment, at its middle, `offset` metres to its left."""
    if not len(segs):
        return np.zeros((0, 2))
    vec = segs[:, 1] - segs[:, 0]
    unit = vec / np.hypot(vec[:, 0], vec[:, 1])[:, None]
    return segs.mean(axis=1) + np.stack([-unit[:, 1], unit[:, 0]], axis=1) * offset


def _inside(polygon: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` random points inside a polygon, by rejection from its bounding box."""
    xmin, ymin, xmax, ymax = polygon.bounds
    out = np.zeros((0, 2))
    for _ in range(20):
        if len(out) >= n:
            break
        xy = rng.uniform((xmin, ymin), (xmax, ymax), size=(max(4 * n, 8), 2))
        out = np.concatenate([out, xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])]])
    return out[:n]


def _centre_radius(commune: Commune) -> float:
    """How far from the town hall the town centre reaches (its shops, market, church square)."""
    return 200.0 if commune.population < 2000 else 350.0 if commune.population < 10000 else 600.0


def trees(
    commune: Commune, segs: np.ndarray, axis: np.ndarray, parks: list[tuple[str, shapely.Geometry]],
    rng: np.random.Generator, scale: float,
) -> tuple[list, dict]:  # fmt: skip
    """Street trees along the main streets and trees in parks, gardens, cemeteries and playgrounds."""
    spacing = TREE_SPACING_M / math.sqrt(scale)
    street = along(segs[axis], spacing, 7.5, np.ones(int(axis.sum()), dtype=bool))
    in_parks = [
        _inside(shape, max(1, round(shape.area / PARK_M2_PER_TREE)), rng) for kind, shape in parks if kind in PARK_KINDS
    ]
    points = np.concatenate([street, *in_parks]) if in_parks else street
    n = len(points)
    names = list(GENERA)
    shares = np.array([GENERA[g][0] for g in names])
    genus = rng.choice(names, size=n, p=shares / shares.sum())
    species = [str(rng.choice(GENERA[g][1])) for g in genus]
    planted = rng.integers(1950, 2024, size=n)
    age = YEAR - planted
    girth = np.clip(np.round(age * rng.uniform(2.0, 3.6, n)), 10, 450).astype(int)
    height = np.round(np.clip(2.5 + age * rng.uniform(0.22, 0.42, n), 3, 32), 1)
    condition = rng.choice(["good", "fair", "poor", "out_of_service"], size=n, p=[0.70, 0.22, 0.07, 0.01])
    return list(shapely.points(points)) if n else [], {
        "genus": list(genus),
        "species": species,
        "height_m": height.tolist(),
        "girth_cm": girth.tolist(),
        "installed_year": planted.tolist(),
        "condition": list(condition),
    }


def litter_bins(
    commune: Commune, segs: np.ndarray, axis: np.ndarray, mains: list[shapely.LineString],
    schools: list[shapely.Geometry], parks: list[tuple[str, shapely.Geometry]], rng: np.random.Generator,
) -> tuple[list, dict]:  # fmt: skip
    """Bins in the town centre (one per street), at bus stops, schools and parks, and in one residential street in
    eight."""
    centre = np.array([commune.centre.x, commune.centre.y])
    mid = segs.mean(axis=1) if len(segs) else np.zeros((0, 2))
    near = np.hypot(*(mid - centre).T) <= _centre_radius(commune) if len(segs) else np.zeros(0, dtype=bool)
    places: list[tuple[np.ndarray, str]] = []
    places += [(p, "town_centre") for p in _midpoints(segs[near], 4.0)]
    town = shapely.Point(centre).buffer(max(_centre_radius(commune) * 3, 600.0))
    for line in mains:
        for d in np.arange(BUS_STOP_SPACING_M / 2, line.length, BUS_STOP_SPACING_M):
            point, ahead = line.interpolate(d), line.interpolate(min(d + 1.0, line.length))
            if town.contains(point):  # on the pavement, 6 m to the side of the road whatever its direction
                tangent = np.array([ahead.x - point.x, ahead.y - point.y])
                tangent /= max(float(np.hypot(*tangent)), 1e-9)
                places.append((np.array([point.x, point.y]) + np.array([-tangent[1], tangent[0]]) * 6.0, "bus_stop"))
    for school in schools:
        c = school.centroid
        places += [(np.array([c.x + dx, c.y - 20.0]), "school") for dx in (-8.0, 8.0)]
    for kind, shape in parks:
        if kind in ("park", "playground", "sports_ground", "garden"):
            n = max(1, round(shape.area / PARK_M2_PER_BIN))
            ring = shape.exterior if shape.geom_type == "Polygon" else shape.geoms[0].exterior
            for t in rng.uniform(0, 1, n):
                p = ring.interpolate(t, normalized=True)
                places.append((np.array([p.x, p.y]) + (np.array(shape.centroid.coords[0]) - [p.x, p.y]) * 0.05, "park"))
    rest = np.flatnonzero(~near & ~axis)
    chosen = rest[rng.random(len(rest)) < 1 / BIN_EVERY_NTH_STREET]
    places += [(p, "residential") for p in _midpoints(segs[chosen], 4.0)]
    if not places:
        return [], {}
    points = np.array([p for p, _ in places])
    setting = [s for _, s in places]
    kind = [
        str(rng.choice(["basket", "bag_holder", "recycling"], p=[0.6, 0.3, 0.1])) if s == "town_centre"
        else str(rng.choice(["basket", "dog_waste"], p=[0.75, 0.25])) if s == "park"
        else "basket" if s in ("bus_stop", "school") else str(rng.choice(["basket", "bag_holder"], p=[0.7, 0.3]))
        for s in setting
    ]  # fmt: skip
    capacity = {"basket": (50, 80), "bag_holder": (50, 110), "recycling": (60, 120), "dog_waste": (10, 30)}
    return list(shapely.points(points)), {
        "bin_type": kind,
        "setting": setting,
        "capacity_l": [int(rng.integers(*capacity[k])) for k in kind],
        "installed_year": rng.integers(1995, 2025, size=len(kind)).tolist(),
        "condition": list(rng.choice(["good", "fair", "poor"], size=len(kind), p=[0.6, 0.3, 0.1])),
    }


def gullies(
    commune: Commune, segs: np.ndarray, axis: np.ndarray, rng: np.random.Generator, scale: float
) -> tuple[list, dict]:
    """Gullies along the kerbs of the urban streets, every 30–50 m (the spacing of a commune's streets), both
    sides of the main streets; combined sewers in old centres, separate stormwater elsewhere."""
    spacing = float(rng.uniform(30, 50)) / math.sqrt(scale)
    points = along(segs, spacing, 3.5, axis)
    n = len(points)
    if not n:
        return [], {}
    distance = np.hypot(points[:, 0] - commune.centre.x, points[:, 1] - commune.centre.y)
    old = distance <= _centre_radius(commune) * (1.5 if commune.insee == CENTRAL_COMMUNE else 1.0)
    network = np.where(
        old,
        rng.choice(["combined", "stormwater"], size=n, p=[0.6, 0.4]),
        rng.choice(["stormwater", "soakaway", "unknown"], size=n, p=[0.85, 0.06, 0.09]),
    )
    installed = np.where(old, rng.integers(1950, 1990, size=n), rng.integers(1970, 2024, size=n))
    return list(shapely.points(points)), {
        "gully_type": list(rng.choice(GULLY_TYPES, size=n, p=GULLY_SHARES)),
        "network": list(network),
        "installed_year": installed.tolist(),
        "condition": list(rng.choice(["good", "fair", "poor"], size=n, p=[0.55, 0.33, 0.12])),
    }
