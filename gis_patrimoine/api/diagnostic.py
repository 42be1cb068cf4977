"""/diagnostic: the questionnaire workbook over HTTP (template, upload, export) and /analysis/diagnostic.

Uploads are checked then loaded all or nothing, like the CLI's `diagnostic import`; managers and admins may
send any commune's answers, an editor only those of its communes (403 naming the others). A refused file is
answered 422 with every problem (sheet, row, column, value).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.background import BackgroundTask

from gis_patrimoine.api.auth import account
from gis_patrimoine.api.runtime import Rt

router = APIRouter()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AGGLO = "agglo"


def _workbook(url: str, fn, *args) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="gp-diagnostic-"))
    path = folder / "diagnostic.xlsx"
    with psycopg.connect(url) as conn:
        fn(conn, path, *args)
    return path


def _send(path: Path, name: str) -> FileResponse:
    return FileResponse(
        path, media_type=XLSX, filename=name, background=BackgroundTask(shutil.rmtree, path.parent, True)
    )


@router.get("/diagnostic/template", summary="The questionnaire workbook to fill in (one sheet per table)")
async def template(request: Request, rt: Rt) -> FileResponse:
    from gis_patrimoine.diagnostic.load import template as write_template

    path = await run_in_threadpool(_workbook, rt.database_url, write_template)
    return _send(path, "diagnostic-questionnaire.xlsx")


@router.get("/diagnostic/export", summary="The answers stored, in the questionnaire's format (token: pay data)")
async def export(
    request: Request, rt: Rt, commune: Annotated[list[str] | None, Query(max_length=50)] = None
) -> FileResponse:
    from gis_patrimoine.diagnostic.load import export as write_export

    async with rt.connection() as conn:  # staff costs are not for anonymous readers
        await account(request, conn)

    path = await run_in_threadpool(_workbook, rt.database_url, write_export, commune or None)
    return _send(path, "diagnostic.xlsx")


def _load(url: str, path: Path, user: str, allowed: set[str] | None, table: str | None) -> dict:
    from gis_patrimoine.diagnostic.load import load_file

    with psycopg.connect(url) as conn:
        report = load_file(conn, path, table=table, user=user, allowed=allowed)
    return report.__dict__


@router.post("/diagnostic/imports", status_code=201, summary="Upload a filled questionnaire (.xlsx or one .csv)")
async def upload(
    request: Request,
    rt: Rt,
    table: Annotated[str | None, Query(pattern=r"^[a-z_]{2,40}$", description="With a CSV body: its table")] = None,
) -> JSONResponse:
    from gis_patrimoine.diagnostic.load import DiagnosticRefused
    from gis_patrimoine.diagnostic.workbook import WorkbookError

    async with rt.connection() as conn:
        acct = await account(request, conn)
    if acct.role not in ("manager", "admin", "editor"):
        raise HTTPException(403, f"{acct.username} may not send answers: readers only read")
    allowed = None if acct.role in ("manager", "admin") else set(acct.communes)
    limit = rt.settings.max_body_mb * 1024**2
    folder = Path(tempfile.mkdtemp(prefix="gp-diagnostic-"))
    try:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise HTTPException(413, f"upload over {limit // 1024**2} MB")
        if not body:
            raise HTTPException(422, "empty upload: send the workbook as the request body")
        suffix = ".xlsx" if body[:2] == b"PK" else ".csv"
        path = folder / f"{table or 'diagnostic'}{suffix}"
        path.write_bytes(bytes(body))
        try:
            report = await run_in_threadpool(_load, rt.database_url, path, acct.username, allowed, table)
        except DiagnosticRefused as exc:
            forbidden = [p for p in exc.problems if "may not edit" in p]
            if forbidden and len(forbidden) == len(exc.problems):
                raise HTTPException(403, forbidden[0]) from exc
            return JSONResponse({"loaded": False, "problems": exc.problems}, status_code=422)
        except WorkbookError as exc:
            return JSONResponse({"loaded": False, "problems": [str(exc)]}, status_code=422)
        return JSONResponse({"loaded": True, **report}, status_code=201)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@router.post("/analysis/diagnostic", status_code=201, summary="Compute the diagnostic and store it per commune")
async def store_diagnostic(request: Request, rt: Rt) -> JSONResponse:
    from gis_patrimoine.analysis.diagnostic import diagnostic as diagnostic_fn
    from gis_patrimoine.analysis.diagnostic import store

    async with rt.connection() as conn:
        await account(request, conn)

    def run() -> dict:
        with psycopg.connect(rt.database_url) as conn:
            d = diagnostic_fn(conn)
            return {"stored": store(conn, d), **d}

    return JSONResponse(await run_in_threadpool(run), status_code=201)


@router.get("/analysis/diagnostic/report", summary="The diagnostic as a printable report (HTML)")
async def diagnostic_report(request: Request, rt: Rt) -> HTMLResponse:
    from gis_patrimoine.analysis.diagnostic import diagnostic as diagnostic_fn
    from gis_patrimoine.analysis.diagnostic_report import diagnostic_report as report_fn

    def run() -> str:
        with psycopg.connect(rt.database_url) as conn:
            return report_fn(conn, diagnostic_fn(conn))

    return HTMLResponse(await run_in_threadpool(run))


@router.get("/analysis/diagnostic", summary="The shared diagnostic: capacity vs work, machines, spending, prices")
async def diagnostic(
    request: Request, rt: Rt, commune: Annotated[list[str] | None, Query(max_length=50)] = None
) -> JSONResponse:
    from gis_patrimoine.analysis.diagnostic import diagnostic as diagnostic_fn

    def run() -> dict:
        with psycopg.connect(rt.database_url) as conn:
            return diagnostic_fn(conn, commune or None)

    return JSONResponse(await run_in_threadpool(run))
