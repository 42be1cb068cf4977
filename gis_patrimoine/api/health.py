"""Health for orchestrators and monitors: /health (the process answers) and /ready (the database answers within
a second, its schema is at the code's migrations and every layer of the catalogue has its table)."""

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
                tables = [f"{la.schema}.{la.table}" for la in rt.catalogue.layers.values()]
                cur = await conn.execute("SELECT t FROM unnest(%s::text[]) t WHERE to_regclass(t) IS NULL", (tables,))
                missing = [r[0] for r in await cur.fetchall()]
                wanted = [f"{t}.{a.name}" for la, t in zip(rt.catalogue.layers.values(), tables, strict=True)
                          for a in la.attributes if t not in missing]  # fmt: skip
                cur = await conn.execute(
                    "SELECT c FROM unnest(%s::text[]) c EXCEPT SELECT table_schema || '.' || table_name || '.' || "
                    "column_name FROM information_schema.columns WHERE table_schema IN ('patrimoine', 'analysis') "
                    "ORDER BY 1",
                    (wanted,),
                )
                columns = [r[0] for r in await cur.fetchall()]
    except Exception as exc:  # any failure to reach the database means: not ready
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    pending = [m for m in expected if m not in applied]
    if pending or missing or columns:  # the catalogue ahead of the tables: the generated migration is pending
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "reachable",
                "pending_migrations": pending,
                "layers_without_table": missing,
                "columns_missing": columns,
                "fix": "run gis-patrimoine db init",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "reachable", "migrations": len(applied)})
