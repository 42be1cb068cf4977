"""Uploads over the API: `POST /imports?layer=…` with a zipped shapefile, a GeoPackage or a GeoJSON as the body,
imported by the same code as the CLI in a background job whose report is at `/imports/{id}`: the import
journal's row, opened when the upload is accepted, so that any API worker answers for it.

Only managers and admins import over the API (an import may touch every commune). The body is streamed to a
private temporary file up to the size limit; the file's type is decided by its first bytes, not its name; a
zip is checked before anything reads it: entry count, names (no absolute path, no `..`, no link), expected
extensions only, and its uncompressed size and compression ratio (zip bombs).
"""

from __future__ import annotations

import logging
import re
import shutil
import stat
import tempfile
import threading
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse

from gis_patrimoine.api.auth import account
from gis_patrimoine.api.deps import asset_layer
from gis_patrimoine.api.features import base_url
from gis_patrimoine.api.runtime import Rt
from gis_patrimoine.collection import QueryError
from gis_patrimoine.importer import journal
from gis_patrimoine.importer.run import ImportFailed, ImportOptions, import_layer

router = APIRouter()
log = logging.getLogger(__name__)
UPLOAD_DIR = re.compile(r"\S*gp-upload-[^/\s]*/")  # the server's temporary folder: not the client's business

SHAPEFILE_PARTS = {".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".xml", ".qmd", ".shp.xml"}
MAX_ENTRIES = 64
MAX_UNZIPPED = 2 * 1024**3  # 2 GiB
MAX_RATIO = 200  # a shapefile compresses 3-20×; hundreds is a bomb
MAGIC = {b"PK\x03\x04": "zip", b"SQLite format 3\x00": "gpkg"}


class Refused(ValueError):
    """An upload refused before any import: the message says why."""


def sniff(head: bytes) -> str:
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return kind
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return "geojson"
    raise Refused("not a zipped shapefile, a GeoPackage or a GeoJSON (judged by the file's first bytes)")


def check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            entries = z.infolist()
            if len(entries) > MAX_ENTRIES:
                raise Refused(f"the zip holds {len(entries)} entries; at most {MAX_ENTRIES} are accepted")
            total = 0
            shp = 0
            for e in entries:
                if not e.filename.strip("/\\"):
                    raise Refused("an entry of the zip has no name")
                name = PurePosixPath(e.filename.replace("\\", "/"))
                drive = bool(name.parts) and ":" in name.parts[0]
                absolute = name.is_absolute() or e.filename.startswith(("/", "\\")) or drive
                if absolute or ".." in name.parts:
                    raise Refused(f"unsafe path in the zip: {e.filename!r}")
                if stat.S_ISLNK(e.external_attr >> 16):
                    raise Refused(f"links are not accepted in the zip: {e.filename!r}")
                if e.is_dir():
                    continue
                suffix = (
                    "".join(name.suffixes[-2:]).lower()
                    if name.name.lower().endswith(".shp.xml")
                    else (name.suffix.lower())
                )
                if suffix not in SHAPEFILE_PARTS:
                    raise Refused(f"unexpected file in the zip: {e.filename!r} (only the parts of shapefiles)")
                shp += suffix == ".shp"
                total += e.file_size
                if e.compress_size and e.file_size / e.compress_size > MAX_RATIO and e.file_size > 10 * 1024**2:
                    raise Refused(f"{e.filename!r} expands {e.file_size / e.compress_size:.0f}×: refused as a zip bomb")
                if total > MAX_UNZIPPED:
                    raise Refused(f"the zip expands to more than {MAX_UNZIPPED // 1024**3} GiB")
            if shp == 0:
                raise Refused("the zip holds no .shp file")
            bad = z.testzip()
            if bad is not None:
                raise Refused(f"the zip is damaged at {bad!r}")
    except zipfile.BadZipFile as exc:
        raise Refused(f"damaged zip: {exc}") from exc
    except (EOFError, OSError) as exc:
        raise Refused(f"damaged zip: {exc}") from exc


async def _receive(request: Request, limit: int, folder: Path) -> Path:
    raw = folder / "upload.bin"
    size = 0
    with raw.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"upload over {limit // 1024**2} MB")
            out.write(chunk)
    if size == 0:
        raise Refused("empty upload: send the file as the request body")
    with raw.open("rb") as f:
        kind = sniff(f.read(64))
    final = folder / {"zip": "upload.zip", "gpkg": "upload.gpkg", "geojson": "upload.geojson"}[kind]
    raw.rename(final)
    if kind == "zip":
        check_zip(final)
    return final


def _run_job(url: str, options: ImportOptions, folder: Path) -> None:
    """The import in the background; its journal row (opened when the upload was accepted) says how it went."""
    try:
        import_layer(url, options)
    except ImportFailed:
        pass  # journalled with its message by the import
    except Exception:  # journalled by the import too; nothing to tell the client beyond its row
        log.exception("upload import %s failed", options.job_id)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _public(job: dict, url: str) -> dict:
    """A journal row as the client sees it: done, failed (with why, no server path) or running."""
    status = {"running": "running", "succeeded": "done", "dry_run": "done"}.get(job["status"], "failed")
    out = {
        "id": job["id"],
        "journal_id": job["id"],
        "status": status,
        "layer": job["layer"],
        "user": job["user"],
        "href": url,
        "started_at": job["started_at"].isoformat(),
    }
    if status != "running":
        out.update(
            counts=job["counts"],
            refusals=job["details"].get("refusals", []),
            warnings=job["details"].get("warnings", []),
            finished_at=job["finished_at"].isoformat(),
        )
    if status == "failed":
        out["error"] = UPLOAD_DIR.sub("", job["message"] or "import failed").replace(
            job["details"].get("refused_file") or "\0", f"{url}/refused"
        )
    if job["details"].get("refused_file"):
        out["refused_file"] = f"{url}/refused"  # a GeoPackage of the refused features, with their reason
    return out


@router.post("/imports", status_code=202, summary="Upload a file and import it into a layer (background job)")
async def create_import(
    request: Request,
    rt: Rt,
    layer: Annotated[str, Query(description="An asset layer of the catalogue (listed in the OpenAPI document)")],
    mode: Literal["upsert", "append", "replace"] = "upsert",
    profile: Annotated[str | None, Query(description="An import profile of the layer (default, osm…)")] = None,
    srs: str | None = Query(None, pattern=r"^EPSG:\d{3,6}$"),
    encoding: str | None = Query(None, pattern=r"^[A-Za-z0-9_-]{2,20}$"),
    layer_name: str | None = Query(None, max_length=128),
    source: str | None = Query(None, max_length=128),
    dry_run: bool = False,
    map: Annotated[
        list[str] | None,
        Query(max_length=50, description="COLUMN=FIELD: which field of the file holds a column (the CLI's --map)"),
    ] = None,
    id_field: str | None = Query(None, max_length=128, description="The field identifying features (--id-field)"),
    commune_field: str | None = Query(None, max_length=128, description="The commune's field (--commune-field)"),
    skip_refused: bool = Query(False, description="Import the others when some features are refused"),
) -> JSONResponse:
    target = asset_layer(rt.catalogue, layer)  # before reading the body: a wrong name is refused at once
    try:
        target.profile(profile)
    except KeyError as exc:
        raise QueryError(f"profile: {exc.args[0]}") from None
    async with rt.connection() as conn:
        acct = await account(request, conn)
    mapping = {}
    for item in map or []:
        column, sep, name = item.partition("=")
        if not sep or not column.strip() or not name.strip():
            raise HTTPException(422, f"map {item!r}: expected COLUMN=FIELD, e.g. map=road_class=KLASSE")
        mapping[column.strip()] = name.strip()
    if acct.role not in ("manager", "admin"):
        raise HTTPException(403, f"{acct.username} may not import: imports over the API are for managers and admins")
    folder = Path(tempfile.mkdtemp(prefix="gp-upload-"))
    try:
        path = await _receive(request, rt.settings.max_body_mb * 1024**2, folder)
    except Refused as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(422, str(exc)) from exc
    except HTTPException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    tag = uuid.uuid4().hex[:8]
    options = ImportOptions(
        layer=layer,
        path=path,
        mode=mode,
        profile=profile,
        srs=srs,
        encoding=encoding,
        layer_name=layer_name,
        source=source or f"api upload {tag}",
        dry_run=dry_run,
        app_user=acct.username,
        mapping=mapping,
        id_field=id_field,
        commune_field=commune_field,
        skip_refused=skip_refused,
        report_dir=rt.settings.data_dir / "import-reports",  # refused features, at .../refused
    )
    table = target.table
    options.job_id = await run_in_threadpool(
        journal.open_job, rt.database_url, table, path.name, None, options.source, mode,
        {k: v for k, v in vars(options).items() if k not in ("path", "app_user", "job_id")}, acct.username,
    )  # fmt: skip
    threading.Thread(target=_run_job, args=(rt.database_url, options, folder), daemon=True).start()
    url = f"{base_url(request)}/imports/{options.job_id}"
    return JSONResponse(
        {"id": options.job_id, "status": "running", "href": url}, status_code=202, headers={"Location": url}
    )


@router.get("/imports/{job_id}", summary="An upload's import: running, done (with its report) or failed (why)")
async def get_import(request: Request, rt: Rt, job_id: int) -> JSONResponse:
    """Read from the import journal, so that any API worker answers for any upload."""
    async with rt.connection() as conn:
        cur = await conn.execute(
            "SELECT id, layer, status, counts, message, details, app_user, started_at, finished_at "
            "FROM patrimoine_sys.import_job WHERE id = %s",
            (job_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise HTTPException(404, f"no import {job_id}")
    keys = ("id", "layer", "status", "counts", "message", "details", "user", "started_at", "finished_at")
    return JSONResponse(_public(dict(zip(keys, row, strict=True)), f"{base_url(request)}/imports/{job_id}"))


@router.get("/imports/{job_id}/refused", summary="The refused features of an upload's import (GeoPackage, with why)")
async def refused_features(request: Request, rt: Rt, job_id: int) -> FileResponse:
    async with rt.connection() as conn:
        cur = await conn.execute(
            "SELECT details ->> 'refused_file' FROM patrimoine_sys.import_job WHERE id = %s", (job_id,)
        )
        row = await cur.fetchone()
    folder = (rt.settings.data_dir / "import-reports").resolve()
    path = Path(row[0]).resolve() if row and row[0] else None
    if path is None or folder not in path.parents or not path.is_file():
        raise HTTPException(404, f"no refused features for import {job_id}")
    return FileResponse(path, media_type="application/geopackage+sqlite3", filename=f"import-{job_id}-refused.gpkg")
