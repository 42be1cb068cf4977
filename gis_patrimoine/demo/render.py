"""A picture of the inventory straight from the database (matplotlib, no basemap), coloured from the catalogue."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import psycopg
import shapely
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.patches import Polygon as MplPolygon

from gis_patrimoine.catalogue import Catalogue, get_catalogue


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


def render(url: str, path: Path, title: str | None = None, catalogue: Catalogue | None = None) -> Path:
    catalogue = catalogue or get_catalogue()
    with psycopg.connect(url) as conn:

        def fetch(query: str) -> list[tuple]:
            return [(shapely.from_wkb(bytes(r[0])), *r[1:]) for r in conn.execute(query)]

        communes = fetch(
            "SELECT ST_AsBinary(geom), name, ST_X(ST_PointOnSurface(geom)), "
            "ST_Y(ST_PointOnSurface(geom)) FROM patrimoine.commune"
        )
        roads = fetch("SELECT ST_AsBinary(geom), road_class FROM patrimoine.road")
        green = fetch("SELECT ST_AsBinary(geom), kind FROM patrimoine.green_space")
        buildings = fetch("SELECT ST_AsBinary(geom), use FROM patrimoine.building")
        lights = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM patrimoine.street_light").fetchall()
        depots = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM patrimoine.depot").fetchall()
    fig, ax = plt.subplots(figsize=(12, 10.5), dpi=110)
    ax.add_collection(
        PatchCollection(_patches([c[0] for c in communes]), facecolor="#f8f9fa", edgecolor="#495057", linewidth=1.2)
    )
    ax.add_collection(
        PatchCollection(
            _patches([g[0] for g in green]),
            linewidth=0,
            facecolor=[_colour(catalogue, "green_space", g[1]) for g in green],
        )
    )
    widths = {"main": 1.6, "secondary": 1.0, "street": 0.5}
    order = sorted(roads, key=lambda r: list(widths).index(r[1]) * -1 if r[1] in widths else 1)
    segments = [shapely.get_coordinates(r[0]) for r in order]
    ax.add_collection(
        LineCollection(
            segments,
            colors=[_colour(catalogue, "road", r[1]) for r in order],
            linewidths=[widths.get(r[1], 0.4) for r in order],
        )
    )
    ax.add_collection(
        PatchCollection(
            _patches([b[0] for b in buildings]),
            linewidth=0,
            facecolor=[_colour(catalogue, "building", b[1]) for b in buildings],
        )
    )
    if lights:
        xs, ys = zip(*lights, strict=True)
        ax.scatter(xs, ys, s=0.15, c=catalogue.codelists["service"].value("lighting").colour, linewidths=0)
    if depots:
        xs, ys = zip(*depots, strict=True)
        ax.scatter(
            xs,
            ys,
            s=28,
            c=catalogue.layers["depot"].style.colour,
            marker="s",
            edgecolors="white",
            linewidths=0.8,
            zorder=5,
        )
    for _, name, x, y in communes:
        ax.annotate(name, (x, y), fontsize=7, ha="center", color="#343a40", alpha=0.85)
    ax.autoscale()
    ax.set_aspect("equal")
    ax.set_axis_off()
    counts = (
        f"{len(roads):,} road segments · {len(lights):,} street lights · {len(green):,} green spaces · "
        f"{len(buildings):,} public buildings · {len(depots)} depots"
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
