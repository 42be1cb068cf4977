"""/analysis/arrangements: pooling arrangements costed side by side, run as a background job.

A comparison takes minutes (hundreds of round problems), so POST answers 202 with the job's address; the job
reports its progress (round problems solved of the total) and, when done, the stored comparison's id. The
comparisons are then read whole, as the director's report, or per commune as the collection
arrangement_communes. Starting one needs a token (any role), as computing rounds does.
"""

from __future__ import annotations

import threading
import uuid
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from gis_patrimoine.api.auth import account
from gis_patrimoine.api.deps import connection
from gis_patrimoine.api.features import base_url

router = APIRouter(prefix="/analysis")
Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]


class ArrangementsBody(BaseModel):
    """Arrangements to cost (as in the YAML file); none: those the product proposes."""

    arrangements: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Each {name, title, groups: [{name, members, services?, depots?, joint_purchasing?}]}",
        max_length=20,
    )
    communes: list[str] = Field(default_factory=list, description="INSEE codes compared; empty: all communes")
    iterations: int = Field(150, ge=10, le=5000, description="Solver iterations per round problem")
    draws: int = Field(200, ge=10, le=2000, description="Draws of the uncertain assumptions for the ranges")


def _job(app, job_id: str, body: ArrangementsBody, user: str) -> None:
    from gis_patrimoine.analysis.errors import AnalysisRefused
    from gis_patrimoine.arrangements.definition import parse
    from gis_patrimoine.arrangements.run import compare
    from gis_patrimoine.arrangements.store import store

    job = app.state.arrangement_jobs[job_id]

    def progress(done: int, total: int, label: str) -> None:
        job["progress"] = {"done": done, "total": total, "step": label}

    try:
        chosen = parse(body.arrangements) if body.arrangements else None
        with psycopg.connect(app.state.database_url) as conn:
            result = compare(
                conn, chosen, iterations=body.iterations, draws=body.draws, progress=progress,
                communes=body.communes or None,
            )  # fmt: skip
            run_id = store(conn, result, user)
        job.update(status="done", id=run_id)
    except (AnalysisRefused, ValueError) as exc:
        job.update(status="failed", error=str(exc))
    except Exception as exc:  # reported, never a stack trace to the client
        job.update(status="failed", error=f"comparison failed: {type(exc).__name__}")


@router.post("/arrangements", status_code=202, summary="Cost pooling arrangements side by side (background job)")
async def create_arrangements(request: Request, body: ArrangementsBody, conn: Conn) -> JSONResponse:
    acct = await account(request, conn)
    if body.arrangements:  # refused now, not minutes later
        from gis_patrimoine.arrangements.definition import parse

        try:
            parse(body.arrangements)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
    job_id = uuid.uuid4().hex
    request.app.state.arrangement_jobs[job_id] = {
        "job": job_id, "status": "running", "user": acct.username, "progress": {"done": 0, "total": None},
    }  # fmt: skip
    threading.Thread(target=_job, args=(request.app, job_id, body, acct.username), daemon=True).start()
    url = f"{base_url(request)}/analysis/arrangements/jobs/{job_id}"
    return JSONResponse({"job": job_id, "status": "running", "href": url}, status_code=202, headers={"Location": url})


@router.get("/arrangements/jobs/{job_id}", summary="A comparison job: running (with progress), done or failed")
async def arrangements_job(request: Request, job_id: str) -> JSONResponse:
    job = request.app.state.arrangement_jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no comparison job {job_id!r}")
    out = dict(job)
    if job.get("status") == "done":
        out["href"] = f"{base_url(request)}/analysis/arrangements/{job['id']}"
        out["report"] = f"{out['href']}/report"
    return JSONResponse(out)


@router.get("/arrangements", summary="Stored comparisons of arrangements, latest first")
async def list_arrangements(conn: Conn) -> JSONResponse:
    cur = await conn.execute(
        "SELECT id, result -> 'ranking', result -> 'robustness', created_at FROM analysis.arrangement_run "
        "ORDER BY id DESC LIMIT 100"
    )
    return JSONResponse(
        {
            "comparisons": [
                {"id": r[0], "ranking": r[1], "robustness": r[2], "created_at": r[3].isoformat()}
                for r in await cur.fetchall()
            ]
        }
    )


def _read(url: str, run_id: int, html: bool) -> dict | str:
    from gis_patrimoine.arrangements.report import render
    from gis_patrimoine.arrangements.store import load

    with psycopg.connect(url) as conn:
        result = load(conn, run_id)
        return render(conn, result) if html else result


@router.get("/arrangements/{run_id}", summary="A comparison: every arrangement, ranges, payments, assumptions")
async def get_arrangements(request: Request, run_id: int) -> JSONResponse:
    try:
        return JSONResponse(await run_in_threadpool(_read, request.app.state.database_url, run_id, False))
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/arrangements/{run_id}/report", summary="The director's report of a comparison (printable HTML)")
async def arrangements_report(request: Request, run_id: int) -> HTMLResponse:
    try:
        return HTMLResponse(await run_in_threadpool(_read, request.app.state.database_url, run_id, True))
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
