"""`demo generate`: a plausible, routable asset inventory for the real communes of Laval Agglomération.

Per commune, from its real boundary and population: an urban street grid around the town centre sized by
population, main roads between neighbouring town centres, lanes to rural hamlets, street lights along the
streets, green spaces, public buildings and the municipal depot. The network is noded at every junction by
construction (GEOS noding of every line that crosses another) and kept in one connected piece.

Deterministic for a seed; one commune at a time is held in memory and appended to the GeoPackages, so
`--scale 100` runs in bounded memory. Scale multiplies the number of features (street grids get denser,
lights, hamlets, green spaces and buildings more numerous), not the territory.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import shapely
from scipy.spatial import Delaunay, cKDTree
from shapely.ops import substring

from gis_patrimoine.analysis.network import endpoint_components
from gis_patrimoine.catalogue import Catalogue, get_catalogue
from gis_patrimoine.demo import public_space
from gis_patrimoine.demo.diagnostic import write_workbook
from gis_patrimoine.demo.territory import CENTRAL_COMMUNE, Commune, load_territory

SOURCE = "demo"
LIT_METRES_PER_INHABITANT = 6.5  # grid street length per inhabitant, before clipping to the commune
INHABITANTS_PER_LIGHT = 7
GREEN_M2_PER_INHABITANT = 20
INHABITANTS_PER_SCHOOL = 1500
HAMLETS_PER_KM2 = 6.5
STREET_SPACING_M = 110.0
MAIN_ROAD_VERTEX_M = 150.0  # main roads are densified so lanes can join them at a vertex
LAMP_TYPES = ("led", "hps", "metal_halide", "mercury", "fluorescent")
LAMP_SHARES = (0.45, 0.40, 0.08, 0.04, 0.03)
LAMP_POWER = {
    "led": (30, 90),
    "hps": (70, 150),
    "metal_halide": (70, 150),
    "mercury": (125, 250),
    "fluorescent": (36, 72),
}
LAMP_YEARS = {
    "led": (2012, 2025),
    "hps": (1985, 2016),
    "metal_halide": (1995, 2018),
    "mercury": (1968, 1992),
    "fluorescent": (1975, 2000),
}
LAYERS = (
    "communes",
    "roads",
    "street_lights",
    "green_spaces",
    "buildings",
    "depots",
    "trees",
    "litter_bins",
    "gullies",
)


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LAYERS, 0))
    road_km: float = 0.0
    green_m2: float = 0.0
    components: int = 0
    population: int = 0


class LayerWriter:
    """Appends batches of features to OUTDIR/<layer>.gpkg."""

    def __init__(self, outdir: Path, summary: Summary):
        self.outdir = outdir
        self.summary = summary
        self.started: set[str] = set()

    def write(
        self, layer: str, geoms: list, columns: dict[str, list], types: dict[str, pa.DataType], geometry_type: str
    ) -> None:
        if not geoms:
            return
        path = self.outdir / f"{layer}.gpkg"
        table = pa.table(
            {name: pa.array(values, types.get(name, pa.string())) for name, values in columns.items()}
            | {"geometry": pa.array(shapely.to_wkb(np.array(geoms, dtype=object)), pa.binary())}
        )
        pyogrio.write_arrow(
            table,
            path,
            layer=layer,
            driver="GPKG",
            geometry_name="geometry",
            crs="EPSG:2154",
            geometry_type=geometry_type,
            append=layer in self.started,
        )
        self.started.add(layer)
        self.summary.counts[layer] += len(geoms)


def _rng(seed: int, commune: Commune, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, int(commune.insee.replace("A", "0").replace("B", "0")), salt])


# --- roads ---------------------------------------------------------------------------------------------------


def main_roads(communes: list[Commune], territory: shapely.Geometry) -> list[shapely.LineString]:
    """Main roads between neighbouring town centres: Delaunay edges that stay inside the territory."""
    centres = np.array([[c.centre.x, c.centre.y] for c in communes])
    inner = territory.buffer(-20)
    edges = set()
    for simplex in Delaunay(centres).simplices:
        for a, b in ((0, 1), (1, 2), (0, 2)):
            edges.add(tuple(sorted((simplex[a], simplex[b]))))
    lines = []
    for a, b in sorted(edges):
        line = shapely.LineString([centres[a], centres[b]])
        if line.length < 12_000 and inner.contains(line):
            lines.append(shapely.segmentize(line, MAIN_ROAD_VERTEX_M))
    return lines


def cut_at_boundaries(line: shapely.LineString, communes: list[Commune]) -> list[tuple[str, shapely.LineString]]:
    """Pieces of a line per commune, cut at the same distances so that neighbours share end points exactly."""
    boundaries = shapely.union_all([c.geom.boundary for c in communes if c.geom.intersects(line)])
    crossings = shapely.get_parts(line.intersection(boundaries))
    cuts = sorted({0.0, line.length, *(line.project(p) for p in crossings if p.geom_type == "Point")})
    pieces = []
    for start, end in itertools.pairwise(cuts):
        if end - start < 0.5:
            continue
        piece = substring(line, start, end)
        middle = piece.interpolate(0.5, normalized=True)
        owner = next((c.insee for c in communes if c.geom.covers(middle)), None)
        if owner:
            pieces.append((owner, piece))
    return pieces


def street_grid(commune: Commune, rng: np.random.Generator, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Segments (n, 2, 2) of a rotated street grid centred on the town centre, and whether each is an axis."""
    spacing = STREET_SPACING_M if commune.population > 2000 else 80.0
    spacing /= math.sqrt(scale)
    side = math.sqrt(LIT_METRES_PER_INHABITANT * commune.population * spacing * math.sqrt(scale) / 2)
    n = max(1, int(side / spacing / 2))
    angle = rng.uniform(0, math.pi / 2)
    cos, sin = math.cos(angle), math.sin(angle)
    centre = commune.centre
    ij = np.arange(-n, n + 1)
    gx, gy = np.meshgrid(ij, ij, indexing="ij")
    # a slightly irregular outline: drop nodes beyond a noisy radius
    radius = n * (1 + 0.25 * np.sin(3 * np.arctan2(gy, gx) + rng.uniform(0, 6)))
    node_ok = np.hypot(gx, gy) <= radius + 0.5

    def xy(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        u, v = i * spacing, j * spacing
        return np.stack([centre.x + u * cos - v * sin, centre.y + u * sin + v * cos], axis=-1)

    segs, axis = [], []
    for di, dj in ((1, 0), (0, 1)):
        i0, j0 = gx[:-1, :] if di else gx[:, :-1], gy[:-1, :] if di else gy[:, :-1]
        ok = (node_ok[:-1, :] & node_ok[1:, :]) if di else (node_ok[:, :-1] & node_ok[:, 1:])
        i0, j0 = i0[ok], j0[ok]
        segs.append(np.stack([xy(i0, j0), xy(i0 + di, j0 + dj)], axis=1))
        axis.append((j0 == 0) if di else (i0 == 0))
    segs, axis = np.concatenate(segs), np.concatenate(axis)
    lines = shapely.linestrings(segs)
    inside = shapely.contains(commune.geom.buffer(-15), lines)
    return segs[inside], axis[inside]


def _components(lines: np.ndarray) -> np.ndarray:
    """Connected component label of each line."""
    return endpoint_components(
        shapely.get_coordinates(shapely.get_point(lines, 0)), shapely.get_coordinates(shapely.get_point(lines, -1))
    )


def rural_lanes(commune: Commune, nodes: np.ndarray, rng: np.random.Generator, scale: float) -> list:
    """Lanes to hamlets, grown outward like a tree: each hamlet joins the nearest point of the network built so
    far (town grid, main roads, earlier lanes), so lanes branch off each other as country lanes do."""
    n_hamlets = round(commune.area_km2 * HAMLETS_PER_KM2 * scale)
    inner = commune.geom.buffer(-30)
    shapely.prepare(inner)
    xmin, ymin, xmax, ymax = inner.bounds
    hamlets = []
    while len(hamlets) < n_hamlets:
        x, y = rng.uniform(xmin, xmax, 2 * n_hamlets + 10), rng.uniform(ymin, ymax, 2 * n_hamlets + 10)
        ok = shapely.contains_xy(inner, x, y)
        hamlets += list(zip(x[ok], y[ok], strict=True))
    hamlets = np.array(hamlets[:n_hamlets]).reshape(-1, 2)
    centre = np.array([commune.centre.x, commune.centre.y])
    hamlets = hamlets[np.argsort(np.hypot(*(hamlets - centre).T))]
    fixed = cKDTree(nodes)
    recent = np.empty((1000, 2))  # vertices of the latest lanes, searched by brute force until folded in
    n_recent = 0
    grown = np.empty((0, 2))
    grown_tree = None
    lanes = []
    for h in hamlets:
        best_d, best = fixed.query(h)
        best = nodes[best]
        if grown_tree is not None:
            d, i = grown_tree.query(h)
            if d < best_d:
                best_d, best = d, grown[i]
        if n_recent:
            dist = np.hypot(*(recent[:n_recent] - h).T)
            if dist.min() < best_d:
                best_d, best = dist.min(), recent[dist.argmin()].copy()
        if best_d < 60:
            continue  # a hamlet on the road already
        lane = shapely.segmentize(shapely.LineString([h, best]), MAIN_ROAD_VERTEX_M)
        if not inner.contains(lane):
            continue
        lanes.append(lane)
        coords = shapely.get_coordinates(lane)[:-1]
        if n_recent + len(coords) > len(recent):  # fold the recent vertices into the indexed ones
            grown = np.concatenate([grown, recent[:n_recent]])
            grown_tree, n_recent = cKDTree(grown), 0
        recent[n_recent : n_recent + len(coords)] = coords
        n_recent += len(coords)
    return lanes


@dataclass
class RoadSet:
    geoms: list
    road_class: list
    names: list


def commune_roads(
    commune: Commune, mains: list[shapely.LineString], rng: np.random.Generator, scale: float
) -> tuple[RoadSet, np.ndarray, np.ndarray]:
    """All roads of one commune, noded; also the grid segments and their axis flags (for lights)."""
    segs, axis = street_grid(commune, rng, scale)
    grid = shapely.linestrings(segs)
    centre = commune.centre
    nodes = np.concatenate([segs.reshape(-1, 2), *[shapely.get_coordinates(m) for m in mains], [[centre.x, centre.y]]])
    lanes = rural_lanes(commune, nodes, rng, scale)
    # node everything that crosses: mains, lanes and the grid segments they touch
    others = [*mains, *lanes]
    grid_tree = shapely.STRtree(grid)
    touched = (
        np.unique(grid_tree.query(np.array(others, dtype=object), predicate="intersects")[1])
        if others
        else np.array([], dtype=int)
    )
    keep = np.ones(len(grid), dtype=bool)
    keep[touched] = False
    noded = shapely.get_parts(shapely.union_all([*others, *grid[touched]])) if others else np.array([], object)
    sources = np.array([*mains, *lanes, *grid[touched]], dtype=object)
    kinds = ["main"] * len(mains) + ["lane"] * len(lanes) + ["secondary" if a else "street" for a in axis[touched]]
    src_tree = shapely.STRtree(sources)
    mids = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    owner = src_tree.query_nearest(mids, return_distance=False, all_matches=False)[1] if len(noded) else []
    noded_kinds = [kinds[k] for k in owner]
    lines = np.concatenate([grid[keep], noded])
    classes = [*("secondary" if a else "street" for a in axis[keep]), *noded_kinds]
    classes = ["rural" if c == "lane" and shapely.length(g) > 600 else c for c, g in zip(classes, lines, strict=True)]
    # keep what is connected to the town centre or to a main road (a grid cut off by a concave boundary goes)
    labels = _components(lines)
    centre_ok = shapely.dwithin(lines, centre, 1e-6)
    anchored = set(labels[centre_ok]) | {labels[i] for i, c in enumerate(classes) if c == "main"}
    keep_lines = np.isin(labels, list(anchored))
    lines = lines[keep_lines]
    classes = [c for c, k in zip(classes, keep_lines, strict=True) if k]
    names = [_road_name(c, i, commune) for i, c in enumerate(classes)]
    # the streets that carry lights: the grid segments kept, whole or noded into pieces
    grid_keep = ~keep
    grid_keep[np.flatnonzero(keep)] = keep_lines[: int(keep.sum())]
    return RoadSet(list(lines), classes, names), segs[grid_keep], axis[grid_keep]


def _road_name(road_class: str, i: int, commune: Commune) -> str | None:
    if road_class == "main":
        return f"Route départementale {100 + int(commune.insee[-3:]) % 90}"
    if road_class in ("street", "secondary"):
        return f"Rue {i % 60 + 1} ({commune.name})"
    return None


# --- assets along and around the roads ----------------------------------------------------------------------


def street_lights(
    commune: Commune, segs: np.ndarray, axis: np.ndarray, rng: np.random.Generator, scale: float
) -> tuple[list, dict]:
    """Lights along the grid streets, every 25–40 m, on both sides of the axes (the main streets)."""
    lines = shapely.linestrings(segs)
    length = float(shapely.length(lines).sum() + shapely.length(lines[axis]).sum())
    target = commune.population * scale / INHABITANTS_PER_LIGHT
    spacing = float(np.clip(length / max(target, 1), 25 / math.sqrt(scale), 40 / math.sqrt(scale))) if length else 30.0
    # light k of segment i sits at spacing/2 + k*spacing along it, 5 m to one side (alternating), or to both sides
    # on the axes
    points = public_space.along(segs, spacing, 5.0, axis, np.round)
    n = len(points)
    lamp = rng.choice(LAMP_TYPES, size=n, p=LAMP_SHARES)
    years, power = np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    for kind in LAMP_TYPES:
        mask = lamp == kind
        years[mask] = rng.integers(*LAMP_YEARS[kind], size=int(mask.sum()))
        power[mask] = rng.integers(*LAMP_POWER[kind], size=int(mask.sum()))
    age = 2025 - years
    condition = np.where(age > 30, "poor", np.where(age > 15, "fair", "good")).astype(object)
    condition[rng.random(n) < 0.01] = "out_of_service"

    geoms = list(shapely.points(points)) if n else []
    return geoms, {
        "lamp_type": list(lamp),
        "power_w": power.tolist(),
        "mast_height_m": np.round(rng.uniform(4, 10, n), 1).tolist(),
        "installed_year": years.tolist(),
        "condition": list(condition),
    }


def _rect(cx: float, cy: float, w: float, h: float, angle: float) -> shapely.Polygon:
    return shapely.affinity.rotate(shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), angle, use_radians=True)


def block_centres(commune: Commune, segs: np.ndarray) -> np.ndarray:
    """Centres of the street blocks (grid cells), nearest to the town centre first."""
    if not len(segs):
        return np.empty((0, 2))
    nodes = np.unique(np.round(segs.reshape(-1, 2), 3), axis=0)
    spacing = float(np.median(np.hypot(*(segs[:, 1] - segs[:, 0]).T)))
    vec = segs[0, 1] - segs[0, 0]
    unit = vec / np.hypot(*vec)
    normal = np.array([-unit[1], unit[0]])
    centres = nodes + (unit + normal) * spacing / 2
    inside = shapely.contains_xy(commune.geom.buffer(-spacing), centres[:, 0], centres[:, 1])
    centres = centres[inside]
    order = np.argsort(np.hypot(centres[:, 0] - commune.centre.x, centres[:, 1] - commune.centre.y))
    return centres[order]


def buildings_and_green(
    commune: Commune,
    segs: np.ndarray,
    mains: list[shapely.LineString],
    roads: list,
    rng: np.random.Generator,
    scale: float,
) -> tuple[dict, dict, shapely.Point]:
    """Public buildings in the central blocks, green spaces in blocks and along main roads."""
    blocks = block_centres(commune, segs)
    spacing = float(np.median(np.hypot(*(segs[:, 1] - segs[:, 0]).T))) if len(segs) else 80.0
    vec = segs[0, 1] - segs[0, 0] if len(segs) else np.array([1.0, 0.0])
    angle = math.atan2(vec[1], vec[0])
    room = max(spacing - 16, spacing * 0.6)  # a block minus the street and sidewalks
    pop = commune.population
    uses = ["town_hall", "church", "technical_centre", "community_hall"]
    uses += ["school"] * max(1, round(pop / INHABITANTS_PER_SCHOOL))
    uses += ["gym"] * (pop // 3000 + (1 if pop > 1000 else 0))
    uses += ["library"] * (1 if pop > 2000 else 0) + ["nursery"] * (pop // 5000) + ["cultural"] * (pop // 15000)
    if commune.insee == CENTRAL_COMMUNE:
        uses.append("technical_centre")  # the agglomération's central depot
    uses = uses * max(1, round(scale))
    b_geoms, b_cols = [], {"name": [], "use": [], "floor_area_m2": [], "installed_year": [], "condition": []}
    depot_at = None
    taken = 0
    labels = {
        "town_hall": "Mairie",
        "church": "Église",
        "technical_centre": "Centre technique municipal",
        "community_hall": "Salle polyvalente",
        "school": "École",
        "gym": "Salle de sports",
        "library": "Médiathèque",
        "nursery": "Crèche",
        "cultural": "Espace culturel",
    }
    for k, use in enumerate(uses):
        if taken >= len(blocks):
            break
        cx, cy = blocks[taken]
        taken += 1
        w, h = (min(room, rng.uniform(18, 45)), min(room, rng.uniform(15, 35)))
        footprint = _rect(cx, cy, w, h, angle)
        levels = 1 if use in ("church", "gym", "technical_centre") else int(rng.integers(1, 4))
        b_geoms.append(shapely.MultiPolygon([footprint]))
        b_cols["name"].append(f"{labels[use]} de {commune.name}" + (f" {k}" if uses.count(use) > 1 else ""))
        b_cols["use"].append(use)
        b_cols["floor_area_m2"].append(round(footprint.area * levels, 1))
        b_cols["installed_year"].append(int(rng.integers(1850 if use == "church" else 1950, 2020)))
        b_cols["condition"].append(str(rng.choice(["good", "fair", "poor"], p=[0.5, 0.4, 0.1])))
        if use == "technical_centre" and depot_at is None:
            depot_at = footprint.centroid
    if depot_at is None:
        depot_at = commune.centre
    # green spaces: cemetery, sports grounds, playgrounds and parks in blocks, verges along main roads
    g_geoms, g_cols = [], {"name": [], "kind": [], "condition": []}
    target = GREEN_M2_PER_INHABITANT * pop * scale
    area = 0.0
    plan = ["cemetery"] + ["sports_ground"] * max(1, pop // 2500) + ["playground"] * max(1, pop // 2000)
    plan += ["roundabout"] * max(1, pop // 4000)
    kinds_cycle = iter(plan * max(1, round(scale)))
    road_tree = shapely.STRtree(np.array(roads, dtype=object))
    while taken < len(blocks) and area < target * 0.8:
        kind = next(kinds_cycle, "park")
        cx, cy = blocks[taken]
        taken += 1
        if kind == "roundabout":
            shape = shapely.Point(cx, cy).buffer(max(1.0, min(12.0, room / 3)))
        else:
            shape = _rect(cx, cy, room, room, angle)
        g_geoms.append(shapely.MultiPolygon([shape]))
        g_cols["name"].append(
            f"{'Parc' if kind == 'park' else kind.replace('_', ' ').capitalize()} {len(g_geoms)} ({commune.name})"
            if kind != "verge"
            else None
        )
        g_cols["kind"].append(kind)
        g_cols["condition"].append("good")
        area += shape.area
    # verges along main roads, then parks and meadows outside the town until the target is met
    for line in mains:
        if area >= target:
            break
        for start in np.arange(50, max(line.length - 250, 50), 600):
            verge = substring(line, start, start + 200).offset_curve(7).buffer(1.5, cap_style="flat")
            if commune.geom.buffer(-5).contains(verge) and not road_tree.query(verge, predicate="intersects").size:
                g_geoms.append(shapely.MultiPolygon([verge]))
                g_cols["name"].append(None)
                g_cols["kind"].append("verge")
                g_cols["condition"].append("good")
                area += verge.area
    inner = commune.geom.buffer(-60)
    attempts = 0
    while area < target and attempts < 5000:
        attempts += 1
        r = rng.uniform(30, 90)
        x = commune.centre.x + rng.normal(0, 1500)
        y = commune.centre.y + rng.normal(0, 1500)
        park = shapely.Point(x, y).buffer(r, quad_segs=6)
        if not inner.contains(park) or road_tree.query(park, predicate="intersects").size:
            continue
        kind = "park" if rng.random() < 0.6 else "meadow"
        g_geoms.append(shapely.MultiPolygon([park]))
        g_cols["name"].append(f"{'Parc' if kind == 'park' else 'Prairie'} {len(g_geoms)} ({commune.name})")
        g_cols["kind"].append(kind)
        g_cols["condition"].append("good")
        area += park.area
    return {"geoms": b_geoms, **b_cols}, {"geoms": g_geoms, **g_cols, "area": area}, depot_at


def depot_rows(commune: Commune, at: shapely.Point, rng: np.random.Generator) -> list[dict]:
    pop = commune.population
    rows = [
        {
            "name": f"Centre technique municipal de {commune.name}",
            "services": "lighting;green_spaces;roads;buildings",
            "crews": 1 + pop // 4000,
            "staff": 2 + pop // 800,
            "geom": at,
            "equipment": {
                "van": 1 + pop // 3000,
                "mower": 1 + pop // 6000,
                **({"aerial_platform": 1} if pop > 5000 else {}),
                **({"sweeper": 1 + pop // 20000} if pop > 4000 else {}),
                **({"flail_mower": 1} if commune.area_km2 > 15 else {}),
            },
        }
    ]
    if commune.insee == CENTRAL_COMMUNE:
        rows.append(
            {
                "name": "Centre technique communautaire de Laval Agglomération",
                "services": "lighting;green_spaces;roads",
                "crews": 6,
                "staff": 40,
                "geom": shapely.Point(at.x + 40, at.y + 40),
                "equipment": {"van": 6, "aerial_platform": 3, "sweeper": 2, "flail_mower": 3, "truck": 3},
                "agglomeration": True,
            }
        )
    return rows


# --- the whole territory ---------------------------------------------------------------------------------------


def generate(outdir: Path, scale: float = 1.0, seed: int = 1, catalogue: Catalogue | None = None) -> Summary:
    """Write communes.gpkg, roads.gpkg, street_lights.gpkg, green_spaces.gpkg, buildings.gpkg, depots.gpkg,
    trees.gpkg, litter_bins.gpkg, gullies.gpkg, and the diagnostic's questionnaire as the communes would return it
    (diagnostic.xlsx)."""
    catalogue = catalogue or get_catalogue()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for layer in LAYERS:
        (outdir / f"{layer}.gpkg").unlink(missing_ok=True)
    summary = Summary()
    writer = LayerWriter(outdir, summary)
    communes = load_territory()
    summary.population = sum(c.population for c in communes)
    territory = shapely.union_all([c.geom for c in communes])
    writer.write(
        "communes",
        [shapely.MultiPolygon(shapely.get_parts(c.geom)) for c in communes],
        {
            "insee": [c.insee for c in communes],
            "name": [c.name for c in communes],
            "population": [c.population for c in communes],
        },
        {"population": pa.int32()},
        "MultiPolygon",
    )
    mains_by_commune: dict[str, list] = {c.insee: [] for c in communes}
    for line in main_roads(communes, territory):
        for insee, piece in cut_at_boundaries(line, communes):
            mains_by_commune[insee].append(piece)
    endpoints: list[np.ndarray] = []
    all_depots: list[tuple[str, str, dict[str, int], bool]] = []  # for the diagnostic workbook
    road_defaults = {v.code: v.defaults for v in catalogue.codelists["road_class"].values}
    for commune in communes:
        rng = _rng(seed, commune)
        roads, segs, axis = commune_roads(commune, mains_by_commune[commune.insee], rng, scale)
        ids = [f"{commune.insee}-R{i:07d}" for i in range(len(roads.geoms))]
        widths = [round(float(road_defaults[c]["width_m"]) * rng.uniform(0.85, 1.15), 1) for c in roads.road_class]
        surfaces = [
            (
                "asphalt"
                if c in ("main", "secondary", "street")
                else str(rng.choice(["surface_dressing", "gravel", "asphalt"], p=[0.6, 0.25, 0.15]))
            )
            for c in roads.road_class
        ]
        writer.write(
            "roads",
            roads.geoms,
            {
                "source": [SOURCE] * len(ids),
                "source_id": ids,
                "name": roads.names,
                "road_class": roads.road_class,
                "surface": surfaces,
                "width_m": widths,
                "speed_kmh": [int(road_defaults[c]["speed_kmh"]) for c in roads.road_class],
                "installed_year": [int(rng.integers(1960, 2024)) for _ in ids],
                "condition": [str(rng.choice(["good", "fair", "poor"], p=[0.55, 0.35, 0.10])) for _ in ids],
            },
            {"width_m": pa.float64(), "speed_kmh": pa.int32(), "installed_year": pa.int32()},
            "LineString",
        )
        summary.road_km += float(shapely.length(np.array(roads.geoms, dtype=object)).sum()) / 1000
        geoms = np.array(roads.geoms, dtype=object)
        endpoints.append(
            np.stack(
                [
                    shapely.get_coordinates(shapely.get_point(geoms, 0)),
                    shapely.get_coordinates(shapely.get_point(geoms, -1)),
                ],
                axis=1,
            )
        )
        lights, cols = street_lights(commune, segs, axis, _rng(seed, commune, 1), scale)
        writer.write(
            "street_lights",
            lights,
            {
                "source": [SOURCE] * len(lights),
                "source_id": [f"{commune.insee}-L{i:07d}" for i in range(len(lights))],
                **cols,
            },
            {"power_w": pa.int32(), "mast_height_m": pa.float64(), "installed_year": pa.int32()},
            "Point",
        )
        buildings, green, depot_at = buildings_and_green(
            commune, segs, mains_by_commune[commune.insee], roads.geoms, _rng(seed, commune, 2), scale
        )
        b_geoms = buildings.pop("geoms")
        writer.write(
            "buildings",
            b_geoms,
            {
                "source": [SOURCE] * len(b_geoms),
                "source_id": [f"{commune.insee}-B{i:05d}" for i in range(len(b_geoms))],
                **buildings,
            },
            {"floor_area_m2": pa.float64(), "installed_year": pa.int32()},
            "MultiPolygon",
        )
        g_geoms = green.pop("geoms")
        summary.green_m2 += green.pop("area")
        writer.write(
            "green_spaces",
            g_geoms,
            {
                "source": [SOURCE] * len(g_geoms),
                "source_id": [f"{commune.insee}-G{i:06d}" for i in range(len(g_geoms))],
                **green,
            },
            {},
            "MultiPolygon",
        )
        parks = list(zip(green["kind"], g_geoms, strict=True))
        schools = [g for g, use in zip(b_geoms, buildings["use"], strict=True) if use == "school"]
        for layer, prefix, (geoms, cols), types in (
            ("trees", "T", public_space.trees(commune, segs, axis, parks, _rng(seed, commune, 3), scale),
             {"height_m": pa.float64(), "girth_cm": pa.int32(), "installed_year": pa.int32()}),
            ("litter_bins", "C", public_space.litter_bins(
                commune, segs, axis, mains_by_commune[commune.insee], schools, parks, _rng(seed, commune, 4)),
             {"capacity_l": pa.int32(), "installed_year": pa.int32()}),
            ("gullies", "A", public_space.gullies(commune, segs, axis, _rng(seed, commune, 5), scale),
             {"installed_year": pa.int32()}),
        ):  # fmt: skip
            ids = [f"{commune.insee}-{prefix}{i:07d}" for i in range(len(geoms))]
            writer.write(layer, geoms, {"source": [SOURCE] * len(ids), "source_id": ids, **cols}, types, "Point")
        depots = depot_rows(commune, depot_at, rng)
        all_depots += [(d["name"], commune.insee, d["equipment"], d.get("agglomeration", False)) for d in depots]
        writer.write(
            "depots",
            [d["geom"] for d in depots],
            {
                "source": [SOURCE] * len(depots),
                "source_id": [f"{commune.insee}-D{i}" for i in range(len(depots))],
                "name": [d["name"] for d in depots],
                "services": [d["services"] for d in depots],
                "crews": [d["crews"] for d in depots],
                "staff": [d["staff"] for d in depots],
                "equipment": [";".join(f"{k}:{v}" for k, v in d["equipment"].items()) for d in depots],
            },
            {"crews": pa.int32(), "staff": pa.int32()},
            "Point",
        )
    write_workbook(outdir, communes, all_depots, seed, catalogue)
    ends = np.concatenate(endpoints)
    summary.components = int(endpoint_components(ends[:, 0], ends[:, 1]).max() + 1) if len(ends) else 0
    return summary
