"""/analysis/arrangements: pooling arrangements costed side by side, run as a background job.

A comparison takes minutes (hundreds of round problems), so POST answers 202 with the job's address; the job
is its row in analysis.arrangement_run from the start (any API worker answers for it): its progress (round
problems solved of the total), then its result or its error. The
comparisons are then read whole, as the director's report, or per commune as the collection
arrangement_communes. Starting one needs a token (any role), as computing rounds does.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from gis_patrimoine.api.auth import account
from gis_patrimoine.api.deps import Conn, records
from gis_patrimoine.api.features import base_url
from gis_patrimoine.api.runtime import Rt, Runtime
from gis_patrimoine.collection import NotFound

router = APIRouter(prefix="/analysis")
log = logging.getLogger(__name__)


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


def _job(url: str, run_id: int, body: ArrangementsBody) -> None:
    """The comparison in the background, its progress and its end written to its row (any worker reads it)."""
    from gis_patrimoine.analysis.errors import AnalysisRefused
    from gis_patrimoine.arrangements import store
    from gis_patrimoine.arrangements.definition import parse
    from gis_patrimoine.arrangements.run import compare

    last = [0.0]
    with psycopg.connect(url) as conn, psycopg.connect(url) as side:

        def progress(done: int, total: int, label: str) -> None:
            if time.monotonic() - last[0] > 0.5 or done == total:  # a few writes a second at most
                last[0] = time.monotonic()
                store.progress(side, run_id, done, total, label)

        try:
            chosen = parse(body.arrangements) if body.arrangements else None
            result = compare(
                conn, chosen, iterations=body.iterations, draws=body.draws, progress=progress,
                communes=body.communes or None,
            )  # fmt: skip
            store.store(conn, result, run_id=run_id)
        except (AnalysisRefused, ValueError) as exc:
            conn.rollback()
            store.fail(conn, run_id, str(exc))
        except Exception as exc:  # reported, never a stack trace to the client
            log.exception("comparison %s failed", run_id)
            conn.rollback()
            store.fail(conn, run_id, f"comparison failed: {type(exc).__name__}")


def _start(url: str, user: str) -> int:
    from gis_patrimoine.arrangements.store import start

    with psycopg.connect(url) as conn:
        return start(conn, user)


@router.post("/arrangements", status_code=202, summary="Cost pooling arrangements side by side (background job)")
async def create_arrangements(request: Request, rt: Rt, body: ArrangementsBody, conn: Conn) -> JSONResponse:
    acct = await account(request, conn)
    if body.arrangements:  # refused now, not minutes later
        from gis_patrimoine.arrangements.definition import parse

        try:
            parse(body.arrangements)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
    url = rt.database_url
    run_id = await run_in_threadpool(_start, url, acct.username)
    threading.Thread(target=_job, args=(url, run_id, body), daemon=True).start()
    href = f"{base_url(request)}/analysis/arrangements/jobs/{run_id}"
    return JSONResponse({"job": run_id, "status": "running", "href": href}, status_code=202, headers={"Location": href})


@router.get("/arrangements/jobs/{run_id}", summary="A comparison job: running (with progress), done or failed")
async def arrangements_job(request: Request, run_id: int, conn: Conn) -> JSONResponse:
    cur = await conn.execute(
        "SELECT status, progress, error, created_by FROM analysis.arrangement_run WHERE id = %s", (run_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise HTTPException(404, f"no comparison job {run_id}")
    out = {"job": run_id, "status": row[0], "progress": row[1], "user": row[3]}
    if row[0] == "failed":
        out["error"] = row[2]
    if row[0] == "done":
        out["id"] = run_id
        out["href"] = f"{base_url(request)}/analysis/arrangements/{run_id}"
        out["report"] = f"{out['href']}/report"
    return JSONResponse(out)


@router.get("/arrangements", summary="Stored comparisons of arrangements, latest first")
async def list_arrangements(conn: Conn) -> JSONResponse:
    query = (
        "SELECT id, result -> 'ranking', result -> 'robustness', created_at FROM analysis.arrangement_run "
        "WHERE status = 'done' ORDER BY id DESC LIMIT 100"
    )
    return JSONResponse({"comparisons": await records(conn, query, ("id", "ranking", "robustness", "created_at"))})


async def _stored(rt: Runtime, run_id: int, html: bool) -> dict | str:
    """A stored comparison (its result, or its report as HTML); 404 when there is none."""
    from gis_patrimoine.arrangements.report import render
    from gis_patrimoine.arrangements.store import load

    def read() -> dict | str:
        with psycopg.connect(rt.database_url) as conn:
            result = load(conn, run_id)
            return render(conn, result) if html else result

    try:
        return await run_in_threadpool(read)
    except LookupError as exc:
        raise NotFound(str(exc)) from exc


@router.get("/arrangements/{run_id}", summary="A comparison: every arrangement, ranges, payments, assumptions")
async def get_arrangements(rt: Rt, run_id: int) -> JSONResponse:
    return JSONResponse(await _stored(rt, run_id, False))


@router.get("/arrangements/{run_id}/report", summary="The director's report of a comparison (printable HTML)")
async def arrangements_report(rt: Rt, run_id: int) -> HTMLResponse:
    return HTMLResponse(await _stored(rt, run_id, True))
