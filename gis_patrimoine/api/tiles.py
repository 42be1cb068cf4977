"""OGC API – Tiles: vector tiles per collection and of all layers, TileJSON 3.0, tile matrix sets.

Each tile answer carries an `ETag` made of the data versions of its layers (and the filter): a client
revalidating a tile that did not change gets `304` without any rendering, and a tile rendered once is kept
in memory under the same key. Layers of a composite tile are queried in parallel, each on its own pooled
connection. Slow tiles are logged with their query plan.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from typing import Annotated

import morecantile
import psycopg
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from psycopg import sql

from gis_patrimoine.api import crs as crs_mod
from gis_patrimoine.api.cql import to_sql
from gis_patrimoine.api.deps import acquire, layer_of
from gis_patrimoine.api.features import base_url, queryable_columns
from gis_patrimoine.catalogue import Layer
from gis_patrimoine.tiles.sql import tile_query

router = APIRouter()
INSEE = re.compile(r"[0-9][0-9AB][0-9]{3}")
log = logging.getLogger("gis_patrimoine.tiles")
TMS = morecantile.tms.get("WebMercatorQuad")
MVT = "application/vnd.mapbox-vector-tile"


def _check_tile(tms: str, z: int, x: int, y: int) -> None:
    if tms != "WebMercatorQuad":
        raise HTTPException(404, f"tile matrix set {tms!r} is not available; use WebMercatorQuad")
    if not 0 <= z <= 24:
        raise HTTPException(400, f"zoom {z} is out of range 0–24")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise HTTPException(400, f"tile {z}/{y}/{x} does not exist: x and y must be in 0–{2**z - 1}")


async def _render_layer(
    request: Request,
    conn: psycopg.AsyncConnection,
    layer: Layer,
    z: int,
    x: int,
    y: int,
    where: sql.Composable | None,
    commune: list[str] | None,
    filter_key: str,
) -> tuple[bytes, bool, int]:
    """The layer's tile, whether it was truncated, and the data version it was rendered from."""
    query = tile_query(layer, z, x, y, request.app.state.srid, where, commune, filter_key)
    start = time.perf_counter()
    try:
        cur = await conn.execute(query)
        data, count, version = await cur.fetchone()
        elapsed_ms = (time.perf_counter() - start) * 1000
        if elapsed_ms > request.app.state.settings.slow_tile_ms:
            cur = await conn.execute(b"EXPLAIN " + query)
            plan = "\n".join(r[0] for r in await cur.fetchall())
            log.warning("slow tile %s %s/%s/%s: %.0f ms\n%s", layer.collection, z, y, x, elapsed_ms, plan)
    except psycopg.errors.QueryCanceled as exc:
        raise HTTPException(503, f"tile {z}/{y}/{x} of {layer.collection} took too long") from exc
    request.app.state.clock.seen(layer.table, version)
    return bytes(data or b""), count > layer.tiles.max_features, version


async def _render_apart(request: Request, layer: Layer, *args) -> tuple[bytes, bool, int]:
    """One layer of a composite tile, on its own pooled connection, so that layers render in parallel."""
    async with acquire(request.app.state.pool) as conn:
        return await _render_layer(request, conn, layer, *args)


def _key(layers: list[Layer], versions: dict[str, int], z: int, x: int, y: int, filter_key: str, commune) -> tuple:
    """Everything that decides a tile's content, its data versions first."""
    return (
        tuple((layer.collection, versions.get(layer.table, 0)) for layer in layers),
        z,
        x,
        y,
        filter_key,
        tuple(commune or ()),
    )


def _etag(key: tuple) -> str:
    return '"' + hashlib.sha1(repr(key).encode()).hexdigest()[:20] + '"'


async def _tile(
    request: Request,
    layers: list[Layer],
    z: int,
    x: int,
    y: int,
    where: sql.Composable | None,
    commune: list[str] | None,
    filter_key: str,
) -> Response:
    """A tile from the cache when its layers' versions, read after the request arrived, are those it was cached
    under; otherwise rendered, each layer with its version read in the same statement.

    When the tile is not in the cache even under the last versions seen, it is rendered straight away (one
    round trip: a version read would not save the rendering); a revalidation (If-None-Match) or a likely hit
    first reads the versions (one query shared by all requests arriving meanwhile).
    """
    layers = [layer for layer in layers if layer.tiles.minzoom <= z <= layer.tiles.maxzoom]
    cache, clock = request.app.state.tile_cache, request.app.state.clock
    revalidating = request.headers.get("if-none-match")
    likely = cache.contains(_key(layers, clock.latest, z, x, y, filter_key, commune))
    if revalidating or likely:
        key = _key(layers, await clock.read(), z, x, y, filter_key, commune)
        hit = cache.get(key)
        etag = hit[2] if hit is not None else _etag(key)
        if revalidating == etag:
            return Response(status_code=304, headers=_headers(etag))
        if hit is not None:
            return _answer(hit[0], hit[1], etag, "hit")
    if len(layers) == 1:
        async with acquire(request.app.state.pool) as conn:
            parts = [await _render_layer(request, conn, layers[0], z, x, y, where, commune, filter_key)]
    else:
        parts = await asyncio.gather(
            *(_render_apart(request, layer, z, x, y, where, commune, filter_key) for layer in layers)
        )
    rendered = {layer.table: p[2] for layer, p in zip(layers, parts, strict=True)}
    key = _key(layers, rendered, z, x, y, filter_key, commune)
    data = b"".join(p[0] for p in parts)
    truncated = ",".join(layer.collection for layer, p in zip(layers, parts, strict=True) if p[1])
    etag = _etag(key)
    cache.put(key, data, truncated, etag)
    return _answer(data, truncated, etag, "miss")


def _headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}


def _answer(data: bytes, truncated: str, etag: str, cache: str) -> Response:
    headers = _headers(etag)
    headers["X-Cache"] = cache
    if truncated:
        headers["X-Tile-Truncated"] = truncated
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


def _communes(commune: list[str] | None) -> list[str] | None:
    codes = [c.strip() for item in commune for c in item.split(",") if c.strip()] if commune else []
    if bad := [c for c in codes if not INSEE.fullmatch(c)]:
        raise HTTPException(400, f"commune: {bad[0][:40]!r} is not an INSEE code (5 characters, e.g. 53130)")
    return codes or None


@router.get(
    "/collections/{collection_id}/tiles/{tms}/{z}/{y}/{x}",
    summary="Vector tile of one collection",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 204: {"description": "Empty tile"}},
)
async def collection_tile(
    request: Request,
    collection_id: str,
    tms: str,
    z: int,
    y: int,
    x: int,
    commune: Annotated[list[str] | None, Query(description="Only these communes (INSEE codes)")] = None,
    filter: Annotated[str | None, Query(description="CQL2 filter")] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang")] = None,
) -> Response:
    layer = layer_of(request, collection_id)
    _check_tile(tms, z, x, y)
    if filter and "\x01" in filter:
        raise HTTPException(400, "filter: control characters are not allowed")
    where = to_sql(filter, filter_lang, queryable_columns(layer), request.app.state.srid) if filter else None
    return await _tile(
        request, [layer], z, x, y, where, _communes(commune), f"{filter_lang}:{filter}" if filter else ""
    )


@router.get(
    "/tiles/{tms}/{z}/{y}/{x}",
    summary="Vector tile of all layers",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 204: {"description": "Empty tile"}},
)
async def composite_tile(
    request: Request,
    tms: str,
    z: int,
    y: int,
    x: int,
    collections: Annotated[str | None, Query(description="Comma-separated collections (default: all)")] = None,
    commune: Annotated[list[str] | None, Query(description="Only these communes (INSEE codes)")] = None,
) -> Response:
    _check_tile(tms, z, x, y)
    layers = _layers(request, collections)
    return await _tile(request, layers, z, x, y, None, _communes(commune), "")


def _layers(request: Request, collections: str | None) -> list[Layer]:
    if not collections:
        return list(request.app.state.catalogue.layers.values())
    return [layer_of(request, c.strip()) for c in collections.split(",") if c.strip()]


def tile_fields(layer: Layer) -> list[str]:
    """Every attribute the layer's tiles may carry, at some zoom."""
    always = ["commune_insee"] if layer.kind == "asset" else []
    fields = dict.fromkeys([*always, *(p for props in layer.tiles.properties.values() for p in props)])
    numeric = layer.attribute(layer.key).type == "identity"
    return [p for p in ([] if numeric else [layer.key]) + list(fields) if not (numeric and p == layer.key)]


def tilejson(request: Request, layers: list[Layer], tiles_url: str) -> dict:
    return {
        "tilejson": "3.0.0",
        "name": ", ".join(layer.collection for layer in layers),
        "tiles": [tiles_url],
        "minzoom": min(layer.tiles.minzoom for layer in layers),
        "maxzoom": max(layer.tiles.maxzoom for layer in layers),
        "bounds": request.app.state.bounds,
        "center": [
            (request.app.state.bounds[0] + request.app.state.bounds[2]) / 2,
            (request.app.state.bounds[1] + request.app.state.bounds[3]) / 2,
            11,
        ],
        "vector_layers": [
            {
                "id": layer.collection,
                "description": layer.title.fr,
                "minzoom": layer.tiles.minzoom,
                "maxzoom": layer.tiles.maxzoom,
                "fields": {p: layer.attribute(p).title.fr for p in tile_fields(layer)},
            }
            for layer in layers
        ],
        "attribution": "Communes: IGN – Admin Express (Licence Ouverte)",
    }


@router.get("/tiles/{tms}/tilejson.json", summary="TileJSON of all layers")
async def composite_tilejson(request: Request, tms: str, collections: str | None = None) -> JSONResponse:
    _check_tile(tms, 0, 0, 0)
    query = f"?collections={collections}" if collections else ""
    return JSONResponse(
        tilejson(request, _layers(request, collections), f"{base_url(request)}/tiles/{tms}/{{z}}/{{y}}/{{x}}{query}")
    )


@router.get("/collections/{collection_id}/tiles/{tms}/tilejson.json", summary="TileJSON of one collection")
async def collection_tilejson(request: Request, collection_id: str, tms: str) -> JSONResponse:
    _check_tile(tms, 0, 0, 0)
    layer = layer_of(request, collection_id)
    return JSONResponse(
        tilejson(request, [layer], f"{base_url(request)}/collections/{collection_id}/tiles/{tms}/{{z}}/{{y}}/{{x}}")
    )


def _tileset(request: Request, prefix: str, layers: list[Layer], title: str) -> dict:
    return {
        "title": title,
        "dataType": "vector",
        "crs": crs_mod.EPSG_URI.format(3857),
        "tileMatrixSetURI": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
        "links": [
            {"href": f"{prefix}/WebMercatorQuad", "rel": "self", "type": "application/json"},
            {
                "href": f"{base_url(request)}/tileMatrixSets/WebMercatorQuad",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                "type": "application/json",
            },
            {
                "href": f"{prefix}/WebMercatorQuad/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
                "rel": "item",
                "type": MVT,
                "templated": True,
            },
            {
                "href": f"{prefix}/WebMercatorQuad/tilejson.json",
                "rel": "describedby",
                "type": "application/json",
                "title": "TileJSON",
            },
        ],
        "layers": [
            {"id": layer.collection, "dataType": "vector", "geometryType": layer.geometry.lower()} for layer in layers
        ],
    }


@router.get("/tiles", summary="Tilesets of all layers")
async def composite_tilesets(request: Request) -> JSONResponse:
    prefix = f"{base_url(request)}/tiles"
    return JSONResponse({"tilesets": [_tileset(request, prefix, _layers(request, None), "All layers")]})


@router.get("/tiles/{tms}", summary="Tileset of all layers")
async def composite_tileset(request: Request, tms: str) -> JSONResponse:
    _check_tile(tms, 0, 0, 0)
    return JSONResponse(_tileset(request, f"{base_url(request)}/tiles", _layers(request, None), "All layers"))


@router.get("/collections/{collection_id}/tiles", summary="Tilesets of one collection")
async def collection_tilesets(request: Request, collection_id: str) -> JSONResponse:
    layer = layer_of(request, collection_id)
    prefix = f"{base_url(request)}/collections/{collection_id}/tiles"
    return JSONResponse({"tilesets": [_tileset(request, prefix, [layer], layer.title.fr)]})


@router.get("/collections/{collection_id}/tiles/{tms}", summary="Tileset of one collection")
async def collection_tileset(request: Request, collection_id: str, tms: str) -> JSONResponse:
    _check_tile(tms, 0, 0, 0)
    layer = layer_of(request, collection_id)
    return JSONResponse(
        _tileset(request, f"{base_url(request)}/collections/{collection_id}/tiles", [layer], layer.title.fr)
    )


@router.get("/tileMatrixSets", summary="Tile matrix sets")
async def tile_matrix_sets(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "tileMatrixSets": [
                {
                    "id": "WebMercatorQuad",
                    "title": "Google Maps compatible",
                    "links": [
                        {
                            "href": f"{base_url(request)}/tileMatrixSets/WebMercatorQuad",
                            "rel": "self",
                            "type": "application/json",
                        }
                    ],
                }
            ]
        }
    )


@router.get("/tileMatrixSets/{tms}", summary="One tile matrix set")
async def tile_matrix_set(tms: str) -> JSONResponse:
    _check_tile(tms, 0, 0, 0)
    return JSONResponse(TMS.model_dump(exclude_none=True, mode="json"))
