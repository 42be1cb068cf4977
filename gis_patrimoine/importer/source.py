"""Opening a source file: which layer, which CRS, which encoding, streamed in Arrow batches.

Readers are GDAL's (through pyogrio): Shapefile (also zipped), GeoPackage, GeoJSON, and CSV with X/Y or
lon/lat columns. Every check that can fail before reading a feature fails here, with the file named.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import re
import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS

from gis_patrimoine.importer.errors import ImportFailed

SUPPORTED = {".shp", ".zip", ".gpkg", ".geojson", ".json", ".csv"}
CSV_X = ("x", "lon", "long", "longitude", "lng", "easting", "coord_x", "xcoord")
CSV_Y = ("y", "lat", "latitude", "northing", "coord_y", "ycoord")
CSV_WKT = ("wkt", "geometry", "geom", "the_geom", "wkt_geom")  # lines and polygons as WKT text
CSV_LONLAT = ("lon", "long", "longitude", "lng")  # degrees as GPS and web maps give them: WGS84 unless said


@dataclass
class Source:
    """An opened source layer, ready to stream."""

    path: Path
    gdal_path: str
    layer: str | None
    crs: CRS
    encoding: str | None
    fields: list[str]
    field_types: list[str]
    geometry_type: str | None
    feature_count: int
    bounds: tuple[float, float, float, float] | None
    open_options: dict[str, str]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _zip_member(path: Path, layer_name: str | None) -> str:
    """The GDAL path of the shapefile (or GeoPackage/GeoJSON) inside a zip."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n]
    except zipfile.BadZipFile as exc:
        raise ImportFailed("not a valid zip archive", path=str(path)) from exc
    candidates = [n for n in names if Path(n).suffix.lower() in {".shp", ".gpkg", ".geojson", ".json"}]
    if layer_name:
        chosen = [n for n in candidates if Path(n).stem == layer_name or n == layer_name]
        if not chosen:
            raise ImportFailed(
                f"no layer {layer_name!r} in the archive; it holds: {', '.join(candidates)}", path=str(path)
            )
        candidates = chosen
    if not candidates:
        raise ImportFailed("the archive holds no shapefile, GeoPackage or GeoJSON", path=str(path))
    if len(candidates) > 1:
        stems = ", ".join(Path(n).stem for n in candidates)
        raise ImportFailed(
            f"the archive holds several layers ({stems})", path=str(path), hint="choose one with --layer-name NAME"
        )
    return f"/vsizip/{path}/{candidates[0]}"


def _shapefile_checks(path: Path) -> None:
    """GDAL opens a shapefile with a missing .dbf (no attributes) or .shx (rebuilt), and reads a truncated
    one as null geometries: refuse all three up front."""
    for ext in (".shx", ".dbf"):
        if not any(path.with_suffix(e).exists() for e in (ext, ext.upper())):
            raise ImportFailed(
                f"the {ext} file that goes with the .shp is missing",
                path=str(path),
                hint=f"copy {path.stem}{ext} next to {path.name}",
            )
    with path.open("rb") as f:
        header = f.read(28)
    if len(header) < 28 or int.from_bytes(header[:4], "big") != 9994:
        raise ImportFailed("not a shapefile (bad header)", path=str(path), hint="export the layer again")
    declared = int.from_bytes(header[24:28], "big") * 2
    actual = path.stat().st_size
    if actual < declared:
        raise ImportFailed(
            f"the .shp file is truncated ({actual:,} of {declared:,} bytes)",
            path=str(path),
            hint="copy or export the file again",
        )


def _dbf_encoding(shp: Path) -> str | None:
    """Encoding of a DBF without .cpg and without a language driver byte: UTF-8 if it decodes, else Latin-1.

    GDAL itself honours .cpg and the DBF language driver; only the case where neither says anything is ours.
    """
    if any(shp.with_suffix(e).exists() for e in (".cpg", ".CPG")):
        return None
    dbf = next((shp.with_suffix(e) for e in (".dbf", ".DBF") if shp.with_suffix(e).exists()), None)
    if dbf is None:
        return None
    with dbf.open("rb") as f:
        header = f.read(32)
        if len(header) < 32 or header[29] != 0:
            return None
        body = f.read(8 << 20)
    if all(b < 0x80 for b in body):
        return None
    try:
        body.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError as exc:
        return "UTF-8" if exc.start > len(body) - 4 else "ISO-8859-1"


def gdal_encoding(name: str, path: Path) -> str:
    """An encoding as GDAL's iconv knows it, from any spelling Python knows: "latin-1", "latin1", "cp1252",
    "windows-1252", "utf8". GDAL does not recode names it does not know (e.g. "latin-1"): the raw bytes would reach
    the database, refused there with a message naming neither the file nor the option."""
    try:
        canonical = codecs.lookup(name).name  # "iso8859-1", "cp1252", "utf-8", "mac-roman"
    except LookupError:
        raise ImportFailed(
            f"unknown encoding {name!r}", path=str(path), hint="use e.g. --encoding latin-1, cp1252 or utf-8"
        ) from None
    if m := re.fullmatch(r"iso8859-(\d+)", canonical):
        return f"ISO-8859-{m[1]}"
    return {"utf-8-sig": "UTF-8", "mac-roman": "MACINTOSH"}.get(canonical, canonical.upper())


TEXT = (".csv", ".geojson", ".json")


def _utf8_copy(path: Path, encoding: str, folder: Path) -> str:
    """GDAL reads CSV and GeoJSON as UTF-8 (pyogrio's Arrow reader recodes shapefiles only): a file in another
    encoding is read through a UTF-8 copy, under its own name in `folder` with its .prj and .csvt beside it
    (GDAL looks for them next to the file it opens)."""
    copy = folder / path.name
    try:
        with path.open("r", encoding=encoding, newline="") as src, copy.open("w", encoding="utf-8") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except UnicodeDecodeError as exc:
        raise ImportFailed(
            f"byte {exc.start} is not {encoding} text", path=str(path), hint="check --encoding (e.g. utf-8, cp1252)"
        ) from None
    for side in path.parent.glob(f"{glob.escape(path.stem)}.*"):
        if side.suffix.lower() in (".prj", ".csvt"):
            shutil.copy(side, folder / side.name)
    return str(copy)


def _check_utf8(stream: BinaryIO, path: Path) -> None:
    """CSV and GeoJSON are read as UTF-8: a file that is not says so here, naming the byte and the line and the
    way out, rather than as bytes the database refuses in the middle of the import. Read in chunks; a character
    cut by a chunk's end is completed by the next one; one cut by the end of the file is not UTF-8."""
    done, line, rest = 0, 1, b""
    while True:
        chunk = stream.read(1 << 20)
        buf = rest + chunk
        if not buf:
            return
        try:
            buf.decode("utf-8")
            good, rest = buf, b""
        except UnicodeDecodeError as exc:
            if chunk and exc.reason == "unexpected end of data" and exc.start >= len(buf) - 3:
                good, rest = buf[: exc.start], buf[exc.start :]
            else:
                at = exc.start
                where = line + buf[:at].count(b"\n")
                raise ImportFailed(
                    f"not UTF-8 text: byte {done + at} (line {where}) is {buf[at]:#04x}",
                    path=str(path),
                    hint="give the file's encoding, e.g. --encoding latin-1 or --encoding cp1252",
                ) from None
        line += good.count(b"\n")
        done += len(good)


def list_layers(gdal_path: str) -> list[str]:
    return [str(name) for name, _ in pyogrio.list_layers(gdal_path)]


def open_source(
    path: Path, layer_name: str | None = None, srs: str | None = None, encoding: str | None = None
) -> Source:
    """Inspect the file and decide layer, CRS and encoding; raise ImportFailed with what to do otherwise."""
    path = Path(path)
    if not path.exists():
        raise ImportFailed("file not found", path=str(path))
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise ImportFailed(
            f"unsupported file type {suffix!r}; expected one of {', '.join(sorted(SUPPORTED))}", path=str(path)
        )
    open_options: dict[str, str] = {}
    gdal_path = str(path)
    if encoding:
        encoding = gdal_encoding(encoding, path)
    folder = None  # a UTF-8 copy's, removed with the Source or on any refusal below
    try:
        if suffix == ".zip":
            gdal_path = _zip_member(path, layer_name)
            layer_name = None
            member = gdal_path.split(f"/vsizip/{path}/", 1)[1]
            if Path(member).suffix.lower() in TEXT:
                if encoding not in (None, "UTF-8"):
                    raise ImportFailed(
                        f"--encoding applies to shapefiles in a zip, not to {member}",
                        path=str(path),
                        hint="unzip it and import the file itself with --encoding",
                    )
                with zipfile.ZipFile(path) as zf, zf.open(member) as f:
                    _check_utf8(f, path)
        elif suffix == ".shp":
            _shapefile_checks(path)
            encoding = encoding or _dbf_encoding(path)
        elif suffix in TEXT and encoding not in (None, "UTF-8"):
            folder = Path(tempfile.mkdtemp(prefix="gp-utf8-"))
            gdal_path, encoding = _utf8_copy(path, encoding, folder), None
        elif suffix in TEXT:
            with path.open("rb") as f:
                _check_utf8(f, path)
        elif suffix == ".gpkg":
            encoding = None  # SQLite text is UTF-8 whatever was said
        source = _inspect(path, gdal_path, suffix, layer_name, srs, encoding, open_options)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if folder is not None:
        weakref.finalize(source, shutil.rmtree, folder, True)  # the copy lives as long as the source
    return source


def _inspect(
    path: Path,
    gdal_path: str,
    suffix: str,
    layer_name: str | None,
    srs: str | None,
    encoding: str | None,
    open_options: dict[str, str],
) -> Source:
    """Layer, CRS, fields and extent of the file GDAL will read."""
    if suffix == ".csv":
        open_options = _csv_options(Path(gdal_path))
    try:
        layers = list_layers(gdal_path)
    except (DataSourceError, DataLayerError) as exc:
        raise _unreadable(path, exc) from exc
    if layer_name is None:
        if len(layers) > 1:
            raise ImportFailed(
                f"holds several layers ({', '.join(layers)})", path=str(path), hint="choose one with --layer-name NAME"
            )
        layer = layers[0] if suffix == ".gpkg" and layers else None
    else:
        if layer_name not in layers:
            raise ImportFailed(f"no layer {layer_name!r}; layers: {', '.join(layers)}", path=str(path))
        layer = layer_name
    try:
        info = pyogrio.read_info(
            gdal_path, layer=layer, encoding=encoding, force_feature_count=True, force_total_bounds=True, **open_options
        )
    except (DataSourceError, DataLayerError) as exc:
        raise _unreadable(path, exc) from exc
    if suffix == ".csv" and not srs and not info.get("crs"):
        srs = "EPSG:4326" if open_options.get("X_POSSIBLE_NAMES", "").lower() in CSV_LONLAT else None
    crs = _resolve_crs(path, info.get("crs"), srs)
    bounds = info.get("total_bounds")
    return Source(
        path=path,
        gdal_path=gdal_path,
        layer=layer,
        crs=crs,
        encoding=encoding,
        fields=[str(f) for f in info["fields"]],
        field_types=[str(t) for t in info["dtypes"]],
        geometry_type=info.get("geometry_type"),
        feature_count=int(info.get("features") or 0),
        bounds=tuple(float(b) for b in bounds) if bounds is not None and len(bounds) == 4 else None,
        open_options=open_options,
    )


def _unreadable(path: Path, exc: Exception) -> ImportFailed:
    return ImportFailed(
        f"cannot be read: {_gdal_message(exc)}",
        path=str(path),
        hint="the file may be truncated or damaged; export it again",
    )


def _gdal_message(exc: Exception) -> str:
    return str(exc).split("\n")[0]


def _resolve_crs(path: Path, file_crs: str | None, srs: str | None) -> CRS:
    if srs:
        try:
            return CRS.from_user_input(srs)
        except Exception as exc:
            raise ImportFailed(
                f"--srs {srs!r} is not a coordinate reference system",
                path=str(path),
                hint="give it as EPSG:N, e.g. --srs EPSG:2154",
            ) from exc
    if not file_crs:
        raise ImportFailed(
            "the file has no coordinate reference system (missing .prj?)",
            path=str(path),
            hint="give it with --srs, e.g. --srs EPSG:2154 (Lambert-93) or --srs EPSG:4326",
        )
    return CRS.from_user_input(file_crs)


def _csv_options(path: Path) -> dict[str, str]:
    """Find the geometry of a CSV for GDAL's CSV driver: a WKT column (any geometry), else X/Y columns."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as f:
        header = f.readline()
    sep = max((";", ",", "\t"), key=header.count)
    columns = [c.strip().strip('"') for c in header.strip().split(sep)]
    lower = {c.lower(): c for c in columns}
    x = next((lower[c] for c in CSV_X if c in lower), None)
    y = next((lower[c] for c in CSV_Y if c in lower), None)
    wkt = next((lower[c] for c in CSV_WKT if c in lower), None)
    if wkt is None and (x is None or y is None):
        raise ImportFailed(
            f"no coordinate columns found among {', '.join(columns)}",
            path=str(path),
            hint="name them X and Y (or lon and lat), or give the geometry as WKT in a column named WKT",
        )
    where = {"GEOM_POSSIBLE_NAMES": wkt} if wkt else {"X_POSSIBLE_NAMES": x, "Y_POSSIBLE_NAMES": y}
    return {
        **where,
        "KEEP_GEOM_COLUMNS": "NO",
        "SEPARATOR": {";": "SEMICOLON", ",": "COMMA", "\t": "TAB"}[sep],
        "AUTODETECT_TYPE": "NO",
    }


@contextmanager
def batches(source: Source, batch_size: int = 16_384) -> Iterator[Iterator[pa.RecordBatch]]:
    """Stream the features as Arrow record batches (geometry as WKB); memory stays flat."""
    try:
        with pyogrio.open_arrow(
            source.gdal_path,
            layer=source.layer,
            encoding=source.encoding,
            batch_size=batch_size,
            use_pyarrow=True,
            return_fids=True,
            **source.open_options,
        ) as (_meta, reader):
            yield iter(reader)
    except (DataSourceError, DataLayerError) as exc:
        raise _unreadable(source.path, exc) from exc
