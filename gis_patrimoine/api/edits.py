"""Writes on items, OGC API – Features Part 4 style: POST, PUT, PATCH, DELETE, for authenticated editors.

Each request is one transaction run under the caller's name (`gis_patrimoine.user`), so the history records
who changed what; the database's rules (types, code lists, geometry validity, communes) apply as they do to
QGIS, and their refusals come back as 400 with the field named. An editor may only touch the assets of the
communes of their token; a feature moved to another commune needs rights on both.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from psycopg import sql

from gis_patrimoine.api import crs as crs_mod
from gis_patrimoine.api.auth import Account, account
from gis_patrimoine.api.deps import Coll, Conn
from gis_patrimoine.api.errors import problem
from gis_patrimoine.api.features import base_url
from gis_patrimoine.api.runtime import Rt, Runtime
from gis_patrimoine.catalogue import Attribute, Layer
from gis_patrimoine.collection import Collection
from gis_patrimoine.db.errors import translate

router = APIRouter()
FEATURE_EXAMPLE = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [-0.7712, 48.0702]},
    "properties": {"lamp_type": "led", "power_w": 40},
}
KEY_PROPERTIES = ("source", "source_id")


def _check_value(attr: Attribute, value: Any) -> Any:
    """Type checks the database cannot word well; ranges and code lists are left to the database."""
    if value is None:
        return None
    allowed = attr.form.python
    if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
        raise HTTPException(400, f"field {attr.name}: {value!r} is not {attr.form.words}")
    if attr.type in ("codes", "texts") and not all(isinstance(v, str) for v in value):
        raise HTTPException(400, f"field {attr.name}: {value!r} is not {attr.form.words}")
    if attr.type == "date":
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise HTTPException(400, f"field {attr.name}: {value!r} is not a date (YYYY-MM-DD)") from exc
    if attr.type == "jsonb":
        return json.dumps(value)
    return value


def _values(layer: Layer, properties: dict) -> dict[str, Any]:
    writable = {a.name: a for a in layer.writable_attributes}
    values = {}
    for name, value in properties.items():
        if name not in writable:
            known = {a.name for a in layer.attributes}
            why = "is read-only" if name in known else "is not a property of this collection"
            raise HTTPException(400, f"field {name}: {why}")
        values[name] = _check_value(writable[name], value)
    return values


def _parse_feature(body: Any) -> tuple[dict | None, dict]:
    if not isinstance(body, dict) or body.get("type") != "Feature":
        raise HTTPException(400, "the body must be a GeoJSON Feature")
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        raise HTTPException(400, "properties must be an object")
    return body.get("geometry"), properties


def _geometry_sql(layer: Layer, geometry: dict, in_srid: int, storage: int) -> sql.Composable:
    expr = sql.SQL("ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON({}), {}), {})").format(
        sql.Literal(json.dumps(geometry)), sql.Literal(in_srid), sql.Literal(storage)
    )
    return sql.SQL("ST_Multi({})").format(expr) if layer.geometry.startswith("Multi") else expr


async def _commune_at(conn: psycopg.AsyncConnection, geom: sql.Composable) -> str | None:
    cur = await conn.execute(
        sql.SQL(
            "SELECT insee FROM patrimoine.commune WHERE ST_Intersects(geom, "
            "ST_PointOnSurface({})) ORDER BY insee LIMIT 1"
        ).format(geom)
    )
    row = await cur.fetchone()
    return row[0] if row else None


def _writable(coll: Collection) -> Layer:
    layer = coll.layer
    if layer.kind != "asset":
        raise HTTPException(405, f"{layer.collection} are read-only over the API")
    return layer


async def _begin(request: Request, conn: psycopg.AsyncConnection, layer: Layer) -> Account:
    acct = await account(request, conn)
    await conn.execute("BEGIN READ WRITE")
    await conn.execute("SELECT set_config('gis_patrimoine.user', %s, true)", (acct.username,))
    return acct


async def _finish(
    request: Request,
    rt: Runtime,
    conn: psycopg.AsyncConnection,
    layer: Layer,
    query: sql.Composable,
    status: int,
    feature_id: int | None = None,
) -> Response:
    try:
        cur = await conn.execute(query)
        row = await cur.fetchone()
        await conn.execute("COMMIT")
    except psycopg.Error as exc:
        await conn.execute("ROLLBACK")
        error = translate(exc, rt.catalogue)
        return problem(400, str(error), field=error.field, value=error.value, reason=error.code)
    fid = feature_id if feature_id is not None else row[0]
    if status == 204:
        return Response(status_code=204)
    url = f"{base_url(request)}/collections/{layer.collection}/items/{fid}"
    body = json.loads(row[1]) if row and len(row) > 1 else None
    return JSONResponse(
        body,
        status_code=status,
        media_type="application/geo+json",
        headers={"Location": url} if status == 201 else None,
    )


async def _rollback_on_error(conn: psycopg.AsyncConnection) -> None:
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        await conn.execute("ROLLBACK")


@router.post("/collections/{collection_id}/items", status_code=201, summary="Create a feature (editors)")
async def create(
    request: Request, rt: Rt, coll: Coll, conn: Conn, body: Annotated[dict, Body(examples=[FEATURE_EXAMPLE])]
) -> Response:
    layer = _writable(coll)
    geometry, properties = _parse_feature(body)
    if not geometry:
        raise HTTPException(400, "field geom: a geometry is required")
    values = _values(layer, properties)
    storage = rt.srid
    geom = _geometry_sql(
        layer,
        geometry,
        crs_mod.to_srid(request.headers.get("content-crs", "").strip("<>") or None, storage, "Content-Crs"),
        storage,
    )
    acct = await _begin(request, conn, layer)
    try:
        commune = values.get("commune_insee") or await _commune_at(conn, geom)
        if commune is None:
            raise HTTPException(400, "field commune_insee: the feature lies outside every commune")
        acct.authorise(commune)
    except (HTTPException, psycopg.Error):
        await _rollback_on_error(conn)
        raise
    values.update(commune_insee=commune)
    values.setdefault("source", "api")
    values.setdefault("source_id", uuid.uuid4().hex)
    names = list(values)
    query = sql.SQL(
        "WITH new AS (INSERT INTO {table} ({cols}, geom) VALUES ({vals}, {geom}) RETURNING *) "
        "SELECT {key}, {feature}::text FROM new"
    ).format(
        table=layer.qualified,
        cols=sql.SQL(", ").join(map(sql.Identifier, names)),
        vals=sql.SQL(", ").join(sql.Literal(values[n]) for n in names),
        geom=geom,
        key=sql.Identifier(layer.key),
        feature=coll.feature_sql(coll.attributes(None), 4326),
    )
    return await _finish(request, rt, conn, layer, query, 201)


async def _existing(conn: psycopg.AsyncConnection, layer: Layer, feature_id: str) -> tuple[int, str]:
    if not feature_id.isdigit():
        raise HTTPException(404, f"no feature {feature_id!r} in {layer.collection}")
    cur = await conn.execute(
        sql.SQL("SELECT id, commune_insee FROM {} WHERE id = %s FOR UPDATE").format(layer.qualified),
        (int(feature_id),),
    )
    row = await cur.fetchone()
    if row is None:
        raise HTTPException(404, f"no feature {feature_id} in {layer.collection}")
    return row[0], row[1]


async def _update(
    request: Request,
    rt: Runtime,
    coll: Collection,
    feature_id: str,
    conn: psycopg.AsyncConnection,
    body: dict,
    replace: bool,
) -> Response:
    layer = _writable(coll)
    geometry, properties = _parse_feature(body)
    if replace and not geometry:
        raise HTTPException(400, "field geom: PUT replaces the whole feature and needs a geometry")
    values = _values(layer, properties)
    if replace:  # properties not given are reset, except the natural key
        for attr in layer.writable_attributes:
            if attr.name not in KEY_PROPERTIES and attr.name != "commune_insee":
                values.setdefault(
                    attr.name, attr.default if attr.default is not None else ("{}" if attr.type == "jsonb" else None)
                )
    storage = rt.srid
    in_srid = crs_mod.to_srid(request.headers.get("content-crs", "").strip("<>") or None, storage, "Content-Crs")
    geom = _geometry_sql(layer, geometry, in_srid, storage) if geometry else None
    acct = await _begin(request, conn, layer)
    try:
        fid, old_commune = await _existing(conn, layer, feature_id)
        new_commune = values.get("commune_insee") or (
            await _commune_at(conn, geom) if geom is not None else old_commune
        )
        acct.authorise(old_commune, new_commune)
    except (HTTPException, psycopg.Error):
        await _rollback_on_error(conn)
        raise
    values["commune_insee"] = new_commune
    sets = [sql.SQL("{} = {}").format(sql.Identifier(n), sql.Literal(v)) for n, v in values.items()]
    if geom is not None:
        sets.append(sql.SQL("geom = {}").format(geom))
    query = sql.SQL(
        "WITH changed AS (UPDATE {table} SET {sets} WHERE id = {fid} RETURNING *) "
        "SELECT id, {feature}::text FROM changed UNION ALL "
        "SELECT id, {feature}::text FROM {table} WHERE id = {fid} AND NOT EXISTS (SELECT 1 FROM changed)"
    ).format(
        table=layer.qualified,
        sets=sql.SQL(", ").join(sets),
        fid=sql.Literal(fid),
        feature=coll.feature_sql(coll.attributes(None), 4326),
    )
    return await _finish(request, rt, conn, layer, query, 200, fid)


@router.put("/collections/{collection_id}/items/{feature_id}", summary="Replace a feature (editors)")
async def replace(
    request: Request,
    rt: Rt,
    coll: Coll,
    feature_id: str,
    conn: Conn,
    body: Annotated[dict, Body(examples=[FEATURE_EXAMPLE])],
) -> Response:
    return await _update(request, rt, coll, feature_id, conn, body, replace=True)


@router.patch("/collections/{collection_id}/items/{feature_id}", summary="Update some properties (editors)")
async def patch(
    request: Request,
    rt: Rt,
    coll: Coll,
    feature_id: str,
    conn: Conn,
    body: Annotated[dict, Body(examples=[{"type": "Feature", "properties": {"condition": "poor"}}])],
) -> Response:
    return await _update(request, rt, coll, feature_id, conn, body, replace=False)


@router.delete("/collections/{collection_id}/items/{feature_id}", status_code=204, summary="Delete (editors)")
async def delete(request: Request, rt: Rt, coll: Coll, feature_id: str, conn: Conn) -> Response:
    layer = _writable(coll)
    acct = await _begin(request, conn, layer)
    try:
        fid, commune = await _existing(conn, layer, feature_id)
        acct.authorise(commune)
    except (HTTPException, psycopg.Error):
        await _rollback_on_error(conn)
        raise
    query = sql.SQL("DELETE FROM {} WHERE id = {} RETURNING id").format(layer.qualified, sql.Literal(fid))
    return await _finish(request, rt, conn, layer, query, 204, fid)
