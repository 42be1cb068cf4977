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
                # the catalogue's columns the database lacks, and whether their table is there at all
                layers = rt.catalogue.layers.values()
                wanted = [(f"{la.schema}.{la.table}", a.name) for la in layers for a in la.attributes]
                cur = await conn.execute(
                    "SELECT w.t, w.c, to_regclass(w.t) IS NULL FROM unnest(%s::text[], %s::text[]) w(t, c) "
                    "WHERE NOT EXISTS (SELECT FROM information_schema.columns i WHERE i.table_schema || '.' || "
                    "i.table_name = w.t AND i.column_name = w.c) ORDER BY 1, 2",
                    ([t for t, _ in wanted], [c for _, c in wanted]),
                )
                absent = await cur.fetchall()
                missing = sorted({t for t, _, no_table in absent if no_table})
                columns = [f"{t}.{c}" for t, c, no_table in absent if not no_table]
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
