"""Health for orchestrators and monitors: /health (the process answers) and /ready (the database answers within
a second and its schema is at the code's migrations)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gis_patrimoine.api.runtime import Rt
from gis_patrimoine.db.migrations import migration_ids

router = APIRouter()


@router.get("/health", summary="The process is alive")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/ready", summary="The database is reachable and its schema current")
async def ready(request: Request, rt: Rt) -> JSONResponse:
    expected = migration_ids()
    try:
        async with asyncio.timeout(2):
            async with rt.connection() as conn:  # as requests get theirs: down means not ready
                cur = await conn.execute(
                    "SELECT migration_id FROM patrimoine_sys._yoyo_migration ORDER BY migration_id"
                )
                applied = [r[0] for r in await cur.fetchall()]
    except Exception as exc:  # any failure to reach the database means: not ready
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    pending = [m for m in expected if m not in applied]
    if pending:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "reachable",
                "pending_migrations": pending,
                "fix": "run gis-patrimoine db init",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "reachable", "migrations": len(applied)})
