"""`demo load`: the generated files go through the ordinary importer, communes first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg

from gis_patrimoine.analysis.network import component_sizes_from_roads
from gis_patrimoine.demo.diagnostic import FILE as DIAGNOSTIC_FILE
from gis_patrimoine.demo.territory import POPULATION_YEAR
from gis_patrimoine.diagnostic.load import load_file
from gis_patrimoine.importer import CommuneOptions, ImportOptions, ImportReport, import_communes, import_layer

# roads before street lights and gullies, which are linked to the nearest road on import
ORDER = ("roads", "depots", "buildings", "green_spaces", "street_lights", "trees", "litter_bins", "gullies")


def missing_files(outdir: Path) -> list[str]:
    """The layers whose file the folder lacks (none made yet, or made by a version with fewer layers)."""
    return [name for name in ("communes", *ORDER) if not (Path(outdir) / f"{name}.gpkg").exists()]


def load(url: str, outdir: Path, on_report: Callable[[ImportReport], None] | None = None) -> dict:
    outdir = Path(outdir)
    missing = missing_files(outdir)
    if missing:
        raise FileNotFoundError(f"{outdir} lacks {', '.join(missing)}: run `gis-patrimoine demo generate {outdir}`")
    reports = [
        import_communes(
            url,
            CommuneOptions(
                outdir / "communes.gpkg",
                code_field="insee",
                name_field="name",
                population_field="population",
                population_year=POPULATION_YEAR,
            ),
        )
    ]
    if on_report:
        on_report(reports[-1])
    for layer in ORDER:
        reports.append(import_layer(url, ImportOptions(layer, outdir / f"{layer}.gpkg")))
        if on_report:
            on_report(reports[-1])
    with psycopg.connect(url) as conn:
        diagnostic = None
        if (outdir / DIAGNOSTIC_FILE).exists():  # the questionnaires, as the communes send them back
            diagnostic = load_file(conn, outdir / DIAGNOSTIC_FILE, user="demo")
        components = component_sizes_from_roads(conn)
    return {"reports": reports, "components": len(components), "diagnostic": diagnostic}
