"""`gis-patrimoine import …` and `export`: files in and out of the layers."""

from __future__ import annotations

import importlib.abc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gis_patrimoine.catalogue import CatalogueError, get_catalogue
from gis_patrimoine.cli.common import console, database_url_or_exit, err, show

if TYPE_CHECKING:
    from gis_patrimoine.importer import ImportReport

# the importer (pyogrio, pandas, pyarrow: 0.8 s) is imported by the commands that use it, not by every command:
# `gis-patrimoine db status` or `--help` start in half the time


class _NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def lean_import_process() -> None:
    """An import command's process stays small: pyogrio imports pandas whenever it is installed (34 MB and a
    quarter of a second), although the importer reads Arrow batches and never a data frame; and GDAL's
    GeoPackage reader runs one reading thread rather than a pool that reads ahead (23 MB); and Arrow allocates
    with the C library's malloc, which gives back what jemalloc keeps for reuse (200,000 lights: 199 → 182 MB at
    the same speed). Measured on 200,000 polygons: 367 → 255 MB with smaller batches, and less again with this
    (make bench-import)."""
    if "pandas" not in sys.modules and not any(isinstance(f, _NoPandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoPandas())
    os.environ.setdefault("OGR_GPKG_NUM_THREADS", "1")
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")  # read when pyarrow first allocates


import_app = typer.Typer(
    help="Import GIS files (Shapefile, zipped too, GeoPackage, GeoJSON, CSV).", no_args_is_help=True
)


def print_report(report: ImportReport) -> None:
    from gis_patrimoine.importer.report import COUNT_LABELS

    title = f"{report.file} → {report.layer}" + (" (dry run: nothing written)" if report.dry_run else "")
    console.print(title, style="bold", highlight=False)
    table = Table("", "features")
    for key, label in COUNT_LABELS.items():
        value = getattr(report, key)
        if value or key in ("read", "inserted", "updated", "unchanged", "refused"):
            table.add_row(label, f"{value:,}")
    show(table)
    if report.extra_fields:
        console.print(f"Fields kept in extra: {', '.join(report.extra_fields)}", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]Warning:[/] {warning}", highlight=False)
    for feature, reason in report.refusals:
        console.print(f"  refused {feature}: {reason}", highlight=False)
    if report.refused_file:
        console.print(f"Refused features, with their reason: {report.refused_file}", highlight=False)
    if report.job_id:
        console.print(f"Journal: import job {report.job_id}", style="dim")


def _fail(exc: Exception) -> None:
    from gis_patrimoine.importer import ImportRefused

    if isinstance(exc, ImportRefused):
        print_report(exc.report)
    err.print(f"[bold red]Import failed:[/] {exc}", highlight=False)
    raise typer.Exit(1)


def _parse_map(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        name, sep, field = item.partition("=")
        if not sep or not name or not field:
            raise typer.BadParameter(f"{item!r}: expected NAME=FIELD", param_hint="--map")
        mapping[name.strip()] = field.strip()
    return mapping


@import_app.command("communes")
def import_communes_cmd(
    path: Annotated[Path, typer.Argument(help="Commune boundaries file")],
    code_field: Annotated[str | None, typer.Option(help="Field with the INSEE codes")] = None,
    name_field: Annotated[str | None, typer.Option(help="Field with the names")] = None,
    population_field: Annotated[str | None, typer.Option(help="Field with the population")] = None,
    population_year: Annotated[int | None, typer.Option(help="Year of that population")] = None,
    layer_name: Annotated[str | None, typer.Option(help="Layer in a GeoPackage or zip")] = None,
    srs: Annotated[str | None, typer.Option(help="CRS when the file has none, e.g. EPSG:2154")] = None,
    encoding: Annotated[str | None, typer.Option(help="Attribute encoding when not declared")] = None,
    dry_run: Annotated[bool, typer.Option(help="Do everything but commit")] = False,
) -> None:
    """Load or update commune boundaries (keyed by INSEE code)."""
    from gis_patrimoine.importer import CommuneOptions, ImportFailed, import_communes

    try:
        report = import_communes(
            database_url_or_exit(),
            CommuneOptions(
                path, code_field, name_field, population_field, population_year, layer_name, srs, encoding, dry_run
            ),
        )
    except ImportFailed as exc:
        _fail(exc)
    print_report(report)


def _layer_command(collection: str, title: str) -> None:
    def command(
        path: Annotated[Path, typer.Argument(help="File to import")],
        layer_name: Annotated[str | None, typer.Option(help="Layer in a GeoPackage or zip")] = None,
        profile: Annotated[str | None, typer.Option(help="Source profile: default, osm, bdtopo")] = None,
        map_: Annotated[list[str], typer.Option("--map", help="NAME=FIELD: where a column or profile field is")] = [],  # noqa: B006
        commune_field: Annotated[str | None, typer.Option(help="Field with the commune (INSEE code or name)")] = None,
        srs: Annotated[str | None, typer.Option(help="CRS when the file has none, e.g. EPSG:2154")] = None,
        encoding: Annotated[str | None, typer.Option(help="Attribute encoding when not declared")] = None,
        source: Annotated[str | None, typer.Option(help="Source name (default: the file name)")] = None,
        id_field: Annotated[str | None, typer.Option(help="Field with the source's identifiers")] = None,
        mode: Annotated[str, typer.Option(help="upsert, append or replace")] = "upsert",
        dry_run: Annotated[bool, typer.Option(help="Do everything but commit")] = False,
        report: Annotated[Path | None, typer.Option(help="Folder for the report of refused features")] = None,
        skip_refused: Annotated[bool, typer.Option(help="Import the valid features even if some are refused")] = False,
        wait: Annotated[float, typer.Option(help="Seconds to wait for another import into this layer")] = 30.0,
    ) -> None:
        lean_import_process()
        from gis_patrimoine.importer import ImportFailed, ImportOptions, import_layer

        if mode not in ("upsert", "append", "replace"):
            raise typer.BadParameter("use upsert, append or replace", param_hint="--mode")
        options = ImportOptions(
            collection,
            path,
            layer_name,
            profile,
            _parse_map(map_),
            commune_field,
            srs,
            encoding,
            source,
            id_field,
            mode,
            dry_run,
            report,
            skip_refused,
            wait,
        )
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        with progress:
            task = progress.add_task(f"{path.name} → {collection}", total=None, rate="")

            def started(src) -> None:
                progress.update(task, total=src.feature_count)

            def advance(n: int) -> None:
                progress.advance(task, n)
                speed = progress.tasks[task].speed
                progress.update(task, rate=f"{speed:,.0f} features/s" if speed else "")

            try:
                result = import_layer(database_url_or_exit(), options, progress=advance, on_start=started)
            except ImportFailed as exc:
                progress.stop()
                _fail(exc)
        print_report(result)

    command.__doc__ = f"Import {title.lower()} ({collection})."
    import_app.command(collection)(command)


try:  # one import command per asset layer: a wrong catalogue file is said plainly, before any command runs
    ASSET_LAYERS = get_catalogue().asset_layers
except CatalogueError as _exc:
    err.print(f"[bold red]Error:[/] {_exc}", highlight=False)
    raise SystemExit(1) from None
for _layer in ASSET_LAYERS:
    _layer_command(_layer.collection, _layer.title.en)
EXPORTABLE = ", ".join([*(la.collection for la in ASSET_LAYERS), "communes"])


def export_cmd(
    layer: Annotated[str, typer.Argument(help=EXPORTABLE)],
    path: Annotated[Path, typer.Argument(help="Output file: .gpkg, .shp, .geojson or .csv")],
    commune: Annotated[list[str], typer.Option(help="Only these communes (INSEE codes)")] = [],  # noqa: B006
    srs: Annotated[str | None, typer.Option(help="Output CRS, e.g. EPSG:4326 (default: storage CRS)")] = None,
) -> None:
    """Export a layer to GeoPackage, Shapefile, GeoJSON or CSV (by extension)."""
    from gis_patrimoine.exporter import export_layer
    from gis_patrimoine.importer import ImportFailed

    try:
        n = export_layer(database_url_or_exit(), layer, path, commune or None, srs)
    except (ImportFailed, KeyError) as exc:
        err.print(f"[bold red]Export failed:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    console.print(f"{n:,} features written to {path}", highlight=False)
