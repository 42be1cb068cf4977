"""A picture of the pooling evidence straight from the database (matplotlib, no basemap): the status-quo and
the balanced service zones of a zoning run side by side, with the depots and the commune boundaries."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import psycopg
import shapely
from matplotlib.collections import PatchCollection
from matplotlib.patches import Polygon as MplPolygon

PALETTE = [
    "#4263eb",
    "#f59f00",
    "#37b24d",
    "#e64980",
    "#1098ad",
    "#7950f2",
    "#f76707",
    "#74b816",
    "#d6336c",
    "#15aabf",
    "#ae3ec9",
    "#fab005",
]


def _patches(geom: shapely.Geometry) -> list[MplPolygon]:
    return [MplPolygon(shapely.get_coordinates(p.exterior), closed=True) for p in shapely.get_parts(geom)]


def render_zones(conn: psycopg.Connection, run_id: int, path: Path) -> Path:
    communes = [shapely.from_wkb(r[0]) for r in conn.execute("SELECT ST_AsBinary(geom) FROM patrimoine.commune")]
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.5), dpi=110)
    for ax, variant, title in zip(
        axes, ("status_quo", "balanced"), ("Each commune alone", "Balanced zones"), strict=True
    ):
        rows = conn.execute(
            "SELECT depot_id, ST_AsBinary(geom), deviation_pct, depot_name FROM analysis.service_zone "
            "WHERE run_id = %s AND variant = %s ORDER BY depot_id",
            (run_id, variant),
        ).fetchall()
        colours = {r[0]: PALETTE[k % len(PALETTE)] for k, r in enumerate(rows)}
        for depot_id, wkb, _, _ in rows:
            zone = shapely.from_wkb(wkb)
            ax.add_collection(
                PatchCollection(
                    _patches(zone), facecolor=colours[depot_id], alpha=0.45, edgecolor=colours[depot_id], linewidth=1.2
                )
            )
        for c in communes:
            ax.add_collection(PatchCollection(_patches(c), facecolor="none", edgecolor="#343a40", linewidth=0.6))
        depots = conn.execute(
            "SELECT ST_X(d.geom), ST_Y(d.geom), z.deviation_pct FROM analysis.service_zone z "
            "JOIN patrimoine.depot d ON d.id = z.depot_id WHERE z.run_id = %s AND z.variant = %s",
            (run_id, variant),
        ).fetchall()
        for x, y, dev in depots:
            ax.plot(x, y, "s", color="#212529", markersize=6)
            ax.annotate(f"{dev:+.0f} %", (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8)
        worst = max((abs(r[2]) for r in rows), default=0)
        ax.set_title(f"{title}: workload off target by up to {worst:.0f} %", fontsize=11)
        ax.autoscale()
        ax.set_aspect("equal")
        ax.axis("off")
    service = conn.execute("SELECT service FROM analysis.service_zone WHERE run_id = %s LIMIT 1", (run_id,)).fetchone()
    fig.suptitle(f"{service[0] if service else ''}: service zones (squares: depots; % = off the crews' share)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def render_diagnostic(conn: psycopg.Connection, d: dict, path: Path) -> Path:
    """The diagnostic in one picture: per service, the posts' hours against the work the inventory needs (left);
    the communes coloured by spending per inhabitant, hatched where answers are missing (right)."""
    import numpy as np

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6), dpi=110, gridspec_kw={"width_ratios": [1, 1.2]})
    services = d["services"]
    x = np.arange(len(services))
    left.bar(x - 0.2, [s["capacity_h"] / 1000 for s in services], 0.4, label="posts' productive hours", color="#4263eb")
    left.bar(
        x + 0.2, [s["workload_answered_h"] / 1000 for s in services], 0.4, label="catalogued work", color="#f59f00"
    )
    for k, s in enumerate(services):
        left.annotate(f"{s['posts']:.0f} FTE", (k - 0.2, s["capacity_h"] / 1000), ha="center", va="bottom", fontsize=8)
    left.set_xticks(x, [s["service"].replace("_", " ") for s in services])
    left.set_ylabel("thousand agent hours a year")
    left.set_title("Capacity vs the work the inventory describes", fontsize=11)
    left.legend(fontsize=8)
    spend = {s["commune"]: s for s in d["spending"]}
    rows = conn.execute("SELECT insee, ST_AsBinary(geom) FROM patrimoine.commune").fetchall()
    values = [v["per_inhabitant_eur"] for v in spend.values() if v["per_inhabitant_eur"] is not None]
    lo, hi = (min(values), max(values)) if values else (0, 1)
    cmap = plt.get_cmap("YlOrRd")
    for insee, wkb in rows:
        s = spend.get(insee)
        value = s["per_inhabitant_eur"] if s else None
        colour = "#dee2e6" if value is None else cmap((value - lo) / max(hi - lo, 1e-9))
        geom = shapely.from_wkb(wkb)
        right.add_collection(
            PatchCollection(_patches(geom), facecolor=colour, edgecolor="#343a40", linewidth=0.6,
                            hatch=None if s and s["complete"] else "//")
        )  # fmt: skip
        if value is not None:
            c = geom.representative_point()
            right.annotate(f"{value:.0f}", (c.x, c.y), ha="center", fontsize=7)
    right.autoscale()
    right.set_aspect("equal")
    right.axis("off")
    right.set_title(f"€ per inhabitant a year ({lo:.0f}–{hi:.0f}; hatched: some answers missing)", fontsize=11)
    fig.suptitle("Shared diagnostic of the technical services")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
