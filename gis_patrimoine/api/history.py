"""A feature's history and its restore (undo) over the API, with the same rights as edits."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gis_patrimoine.api.auth import account
from gis_patrimoine.api.deps import Coll, Conn
from gis_patrimoine.api.runtime import Rt
from gis_patrimoine.db.restore import NothingToRestore, restore

router = APIRouter()


@router.get("/collections/{collection_id}/items/{feature_id}/history", summary="Every change of a feature")
async def feature_history(coll: Coll, feature_id: str, conn: Conn) -> JSONResponse:
    layer = coll.layer
    cur = await conn.execute(
        "SELECT id, operation, changed_at, db_user, app_user, changed_fields, old_values, "
        "CASE WHEN operation = 'INSERT' THEN patrimoine_app.history_state(id) ELSE new_values END "
        "FROM patrimoine_sys.history WHERE layer = %s AND feature_id = %s ORDER BY id",
        (layer.table, feature_id),
    )
    keys = ["version", "operation", "changed_at", "login", "api_user", "changed_fields", "old", "new"]
    rows = [dict(zip(keys, r, strict=True)) for r in await cur.fetchall()]
    for r in rows:
        r["changed_at"] = r["changed_at"].isoformat()
    return JSONResponse({"collection": layer.collection, "id": feature_id, "versions": rows})


@router.post("/collections/{collection_id}/items/{feature_id}/restore", summary="Undo: restore a feature")
async def restore_feature(
    request: Request, rt: Rt, coll: Coll, feature_id: str, conn: Conn, version: int | None = None
) -> JSONResponse:
    layer = coll.layer
    acct = await account(request, conn)
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM patrimoine_sys.history WHERE layer = %s AND feature_id = %s "
        "AND (id = %s OR (%s::bigint IS NULL AND operation = 'DELETE')))",
        (layer.table, feature_id, version, version),
    )
    if not (await cur.fetchone())[0]:
        raise HTTPException(404, f"nothing to restore for {layer.collection} {feature_id} (version {version})")
    acct.authorise()  # a reader may not; the communes are checked inside the restore's transaction

    def check(communes: list[str | None]) -> None:
        acct.authorise(*communes)  # the commune the feature is in now, and the one it goes back to

    def run() -> str:
        with psycopg.connect(rt.database_url) as c:
            return restore(c, layer.collection, feature_id, version, user=acct.username, authorise=check)

    try:
        done = await run_in_threadpool(run)
    except NothingToRestore as exc:
        raise HTTPException(409, str(exc)) from exc
    return JSONResponse({"restored": done})
