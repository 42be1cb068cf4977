"""A picture of the inventory straight from the database (matplotlib, no basemap), coloured from the catalogue.

The whole territory on the left; on the right the centre of the most populous commune, close enough to see
the street furniture: trees, litter bins and gullies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import psycopg
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.patches import Polygon as MplPolygon
from matplotlib.patches import Rectangle

from gis_patrimoine.catalogue import Catalogue, get_catalogue

ZOOM_HALF_M = 450.0  # the close-up: 900 m across, around the largest commune's town hall
POINT_LAYERS = ("tree", "litter_bin", "gully")  # drawn in the close-up only, by their catalogue colours


def _colour(catalogue: Catalogue, layer: str, code: str | None) -> str:
    style = catalogue.layers[layer].style
    if style.by and code:
        attr = catalogue.layers[layer].attribute(style.by)
        value = catalogue.codelists[attr.codelist].value(code)
        if value.colour:
            return value.colour
    return style.colour or "#868e96"


def _patches(geoms: list[shapely.Geometry]) -> list[MplPolygon]:
    return [MplPolygon(shapely.get_coordinates(p.exterior), closed=True) for g in geoms for p in shapely.get_parts(g)]


@dataclass
class Inventory:
    """What the picture shows, read once."""

    communes: list[tuple]
    roads: list[tuple]
    green: list[tuple]
    buildings: list[tuple]
    lights: list[tuple]
    depots: list[tuple]
    points: dict[str, list[tuple]]  # trees, bins, gullies: (x, y, code of the style's attribute)
    centre: tuple[float, float] | None


def _read(url: str, catalogue: Catalogue) -> Inventory:
    with psycopg.connect(url) as conn:

        def fetch(query: str) -> list[tuple]:
            return [(shapely.from_wkb(bytes(r[0])), *r[1:]) for r in conn.execute(query)]

        def present(table: str) -> bool:
            return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"patrimoine.{table}",)).fetchone()[0]

        points = {}
        for name in POINT_LAYERS:
            if name in catalogue.layers and present(name):
                by = catalogue.layers[name].style.by or "NULL"
                points[name] = conn.execute(f"SELECT ST_X(geom), ST_Y(geom), {by} FROM patrimoine.{name}").fetchall()  # noqa: S608
        centre = conn.execute(
            "SELECT ST_X(ST_Centroid(b.geom)), ST_Y(ST_Centroid(b.geom)) FROM patrimoine.building b "
            "JOIN patrimoine.commune c ON c.insee = b.commune_insee WHERE b.use = 'town_hall' "
            "ORDER BY c.population DESC NULLS LAST LIMIT 1"
        ).fetchone()
        return Inventory(
            communes=fetch(
                "SELECT ST_AsBinary(geom), name, ST_X(ST_PointOnSurface(geom)), "
                "ST_Y(ST_PointOnSurface(geom)) FROM patrimoine.commune"
            ),
            roads=fetch("SELECT ST_AsBinary(geom), road_class FROM patrimoine.road"),
            green=fetch("SELECT ST_AsBinary(geom), kind FROM patrimoine.green_space"),
            buildings=fetch("SELECT ST_AsBinary(geom), use FROM patrimoine.building"),
            lights=conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM patrimoine.street_light").fetchall(),
            depots=conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM patrimoine.depot").fetchall(),
            points=points,
            centre=centre,
        )


def _draw(ax: Axes, catalogue: Catalogue, inv: Inventory, close: bool) -> None:
    """The layers bottom to top; `close`: the close-up, with wider lines and the street furniture."""
    k = 4.0 if close else 1.0
    ax.add_collection(
        PatchCollection(_patches([c[0] for c in inv.communes]), facecolor="#f8f9fa", edgecolor="#495057", linewidth=1.2)
    )
    ax.add_collection(
        PatchCollection(
            _patches([g[0] for g in inv.green]),
            linewidth=0,
            facecolor=[_colour(catalogue, "green_space", g[1]) for g in inv.green],
        )
    )
    widths = {"main": 1.6, "secondary": 1.0, "street": 0.5}
    order = sorted(inv.roads, key=lambda r: list(widths).index(r[1]) * -1 if r[1] in widths else 1)
    ax.add_collection(
        LineCollection(
            [shapely.get_coordinates(r[0]) for r in order],
            colors=[_colour(catalogue, "road", r[1]) for r in order],
            linewidths=[widths.get(r[1], 0.4) * (2 if close else 1) for r in order],
        )
    )
    ax.add_collection(
        PatchCollection(
            _patches([b[0] for b in inv.buildings]),
            linewidth=0,
            facecolor=[_colour(catalogue, "building", b[1]) for b in inv.buildings],
        )
    )
    if inv.lights:
        xs, ys = zip(*inv.lights, strict=True)
        colour = catalogue.codelists["service"].value("lighting").colour
        ax.scatter(xs, ys, s=0.15 * k * k, c=colour, linewidths=0, label="street lights" if close else None)
    if close:
        sizes = {"tree": 7, "litter_bin": 12, "gully": 3}
        for name, rows in inv.points.items():
            if rows:
                xs, ys, codes = zip(*rows, strict=True)
                ax.scatter(
                    xs, ys, s=sizes[name], c=[_colour(catalogue, name, c) for c in codes],
                    marker="s" if name == "litter_bin" else "o", edgecolors="#212529", linewidths=0.2,
                    label=catalogue.layers[name].title.en.lower(), zorder=4,
                )  # fmt: skip
    if inv.depots:
        xs, ys = zip(*inv.depots, strict=True)
        ax.scatter(
            xs, ys, s=28 * (2 if close else 1), c=catalogue.layers["depot"].style.colour, marker="s",
            edgecolors="white", linewidths=0.8, zorder=5, label="depots" if close else None,
        )  # fmt: skip
    ax.set_aspect("equal")
    ax.set_axis_off()


def render(url: str, path: Path, title: str | None = None, catalogue: Catalogue | None = None) -> Path:
    catalogue = catalogue or get_catalogue()
    inv = _read(url, catalogue)
    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(17, 9), dpi=110, gridspec_kw={"width_ratios": [1.45, 1]})
    _draw(ax, catalogue, inv, close=False)
    for _, name, x, y in inv.communes:
        ax.annotate(name, (x, y), fontsize=7, ha="center", color="#343a40", alpha=0.85)
    ax.autoscale()
    if inv.centre:
        cx, cy = inv.centre
        _draw(zoom, catalogue, inv, close=True)
        zoom.set_xlim(cx - ZOOM_HALF_M, cx + ZOOM_HALF_M)
        zoom.set_ylim(cy - ZOOM_HALF_M, cy + ZOOM_HALF_M)
        zoom.legend(loc="lower left", fontsize=8, markerscale=1.5, framealpha=0.9)
        zoom.set_title(f"The centre of the largest commune, {2 * ZOOM_HALF_M:g} m across", fontsize=10)
        ax.add_patch(
            Rectangle((cx - ZOOM_HALF_M, cy - ZOOM_HALF_M), 2 * ZOOM_HALF_M, 2 * ZOOM_HALF_M, fill=False,
                      edgecolor="#e03131", linewidth=1.2, zorder=6)
        )  # fmt: skip
    else:
        zoom.set_axis_off()
    n = {name: len(rows) for name, rows in inv.points.items()}
    counts = (
        f"{len(inv.roads):,} road segments · {len(inv.lights):,} street lights · {len(inv.green):,} green spaces · "
        f"{len(inv.buildings):,} public buildings · {len(inv.depots)} depots"
        + (
            f"\n{n.get('tree', 0):,} trees · {n.get('litter_bin', 0):,} litter bins · {n.get('gully', 0):,} gullies"
            if n
            else ""
        )
    )
    ax.set_title((title or "gis-patrimoine") + "\n" + counts, fontsize=11)
    fig.text(
        0.01,
        0.01,
        "Communes: IGN – Admin Express 2018 (Licence Ouverte). Assets: synthetic demo data.",
        fontsize=7,
        color="#868e96",
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
