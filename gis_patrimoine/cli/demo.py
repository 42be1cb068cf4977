"""`gis-patrimoine demo ...`: generate, load and look at the Laval Agglomération demo territory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.table import Table

from gis_patrimoine.cli.common import console, database_url_or_exit, show
from gis_patrimoine.settings import get_settings

demo_app = typer.Typer(
    help="The demo territory: Laval Agglomération's 20 communes with a synthetic inventory.", no_args_is_help=True
)


def default_dir() -> Path:
    return get_settings().data_dir / "demo"


@demo_app.command("generate")
def generate_cmd(
    outdir: Annotated[Path, typer.Argument(help="Folder for the GeoPackages")],
    scale: Annotated[float, typer.Option(help="Volume multiplier (10, 100 for benchmarks)", min=0.05)] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files")] = 1,
) -> None:
    """Write communes, roads, street lights, green spaces, buildings and depots as GeoPackages."""
    from gis_patrimoine.demo.generate import generate

    start = time.perf_counter()
    summary = generate(outdir, scale, seed)
    table = Table("layer", "features", title=f"Demo territory (scale {scale:g}, seed {seed}) in {outdir}")
    for layer, count in summary.counts.items():
        table.add_row(layer, f"{count:,}")
    show(table)
    console.print(
        f"Population {summary.population:,}; roads {summary.road_km:,.0f} km in "
        f"{summary.components} connected component(s); green spaces {summary.green_m2 / 1e4:,.0f} ha; "
        f"{time.perf_counter() - start:.1f} s"
    )


@demo_app.command("load")
def load_cmd(outdir: Annotated[Path, typer.Argument(help="Folder written by `demo generate`")]) -> None:
    """Import the generated files through the ordinary importer (communes first)."""
    from gis_patrimoine.demo.load import load

    result = load(
        database_url_or_exit(),
        outdir,
        on_report=lambda r: console.print(
            f"{r.layer:<14} read {r.read:>8,}  inserted {r.inserted:>8,}  updated {r.updated:>6,}  "
            f"unchanged {r.unchanged:>8,}  refused {r.refused:>4,}",
            highlight=False,
        ),
    )
    console.print(f"Road network: {result['components']} connected component(s)")


@demo_app.command("render")
def render_cmd(path: Annotated[Path, typer.Argument(help="PNG file to write")]) -> None:
    """Draw the inventory in the database (communes, roads, lights, green spaces, buildings, depots)."""
    from gis_patrimoine.demo.render import render

    console.print(f"Written {render(database_url_or_exit(), path, 'Laval Agglomération — demo inventory')}")


@demo_app.command("run")
def run_cmd(
    outdir: Annotated[Path | None, typer.Option(help="Folder of the generated files (default .data/demo)")] = None,
    scale: Annotated[float, typer.Option(min=0.05)] = 1.0,
    seed: int = 1,
) -> None:
    """Generate (unless already there) and load the demo, then say what the database holds."""
    outdir = outdir or default_dir() / f"scale-{scale:g}-seed-{seed}"
    from gis_patrimoine.demo.load import missing_files

    if missing_files(outdir):  # none yet, or made by a version with fewer layers
        generate_cmd(outdir, scale, seed)
    load_cmd(outdir)
    with psycopg.connect(database_url_or_exit()) as conn:
        rows = conn.execute(
            "SELECT c.insee, c.name, c.population, "
            "(SELECT round(sum(length_m) / 1000)::int FROM patrimoine.road r WHERE r.commune_insee = c.insee), "
            "(SELECT count(*) FROM patrimoine.street_light l WHERE l.commune_insee = c.insee), "
            "(SELECT round((sum(area_m2) / 1e4)::numeric, 1) FROM patrimoine.green_space g "
            "WHERE g.commune_insee = c.insee), "
            "(SELECT count(*) FROM patrimoine.building b WHERE b.commune_insee = c.insee), "
            "(SELECT count(*) FROM patrimoine.tree t WHERE t.commune_insee = c.insee), "
            "(SELECT count(*) FROM patrimoine.litter_bin k WHERE k.commune_insee = c.insee), "
            "(SELECT count(*) FROM patrimoine.gully y WHERE y.commune_insee = c.insee) "
            "FROM patrimoine.commune c ORDER BY c.population DESC"
        ).fetchall()
    table = Table(
        "INSEE",
        "commune",
        "inhabitants",
        "road km",
        "street lights",
        "green ha",
        "buildings",
        "trees",
        "litter bins",
        "gullies",
        title="What the database holds",
    )
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    show(table)
