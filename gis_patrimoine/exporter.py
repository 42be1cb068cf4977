"""`export_layer`: a layer (or some communes of it) to GeoPackage, Shapefile, GeoJSON or CSV.

The export carries `source`, `source_id`, `commune_insee` and `extra` (as JSON), so that importing it again
with the default profile finds the same rows and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pyarrow as pa
import pyogrio
from pyproj import CRS
from pyproj.enums import WktVersion

from gis_patrimoine.catalogue import Attribute, Catalogue, get_catalogue
from gis_patrimoine.collection import Collection
from gis_patrimoine.db.migrations import stored_srid
from gis_patrimoine.importer.errors import ImportFailed

DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".json": "GeoJSON", ".csv": "CSV"}
BATCH = 50_000


def arrow_type(attr: Attribute) -> pa.DataType:
    """The column's type in the file: the catalogue's form, or text (UUIDs, JSON, lists)."""
    name = attr.form.arrow
    if name is None:
        return pa.string()
    return pa.timestamp("us", tz="UTC") if name == "timestamp" else getattr(pa, name)()


def export_layer(
    url: str,
    layer_name: str,
    path: Path,
    communes: list[str] | None = None,
    srs: str | None = None,
    catalogue: Catalogue | None = None,
) -> int:
    """Write the layer to `path` (format by extension); returns the number of features written."""
    catalogue = catalogue or get_catalogue()
    layer = catalogue.layer(layer_name)
    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise ImportFailed(f"unsupported export format {path.suffix!r}; use one of {', '.join(DRIVERS)}")
    with psycopg.connect(url) as conn:
        storage = stored_srid(conn)
        target = CRS.from_user_input(srs).to_epsg() if srs else storage
        if driver == "GeoJSON" and srs is None:
            target = 4326  # RFC 7946
        query, columns = Collection(layer, catalogue, storage).export_query(communes, target)
        if path.exists():
            for sibling in path.parent.glob(path.stem + ".*") if driver == "ESRI Shapefile" else [path]:
                sibling.unlink()
        written = 0
        # CSV: points as X and Y columns, lines and polygons as WKT (what the importer reads back)
        as_csv = "AS_XY" if layer.geometry == "Point" else "AS_WKT"
        options = {"layer_options": {"GEOMETRY": as_csv}} if driver == "CSV" else {}
        if driver == "ESRI Shapefile":
            options["encoding"] = "UTF-8"
        with conn.cursor(name="export") as cur:
            cur.execute(query)
            while rows := cur.fetchmany(BATCH):
                table = pa.table(
                    {a.name: pa.array([r[i] for r in rows], arrow_type(a)) for i, a in enumerate(columns)}
                    | {"geometry": pa.array([bytes(r[-1]) for r in rows], pa.binary())}
                )
                pyogrio.write_arrow(
                    table,
                    path,
                    driver=driver,
                    geometry_name="geometry",
                    crs=f"EPSG:{target}",
                    geometry_type=layer.geometry,
                    append=written > 0,
                    **options,
                )
                written += len(rows)
    if driver == "CSV":  # a CSV has no CRS: a .prj beside it, as GDAL reads one back (the import needs no --srs)
        path.with_suffix(".prj").write_text(CRS.from_epsg(target).to_wkt(WktVersion.WKT1_ESRI), encoding="utf-8")
    return written
