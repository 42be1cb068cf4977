"""OGC API – Tiles: vector tiles per collection and of all layers, TileJSON 3.0, tile matrix sets.

Each tile answer carries an `ETag` made of the data versions of its layers (and the filter): a client
revalidating a tile that did not change gets `304` without any rendering, and a tile rendered once is kept
in memory under the same key. Layers of a composite tile are queried in parallel, each on its own pooled
connection. Slow tiles are logged with their query plan.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass, field
from typing import Annotated

import morecantile
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from gis_patrimoine.api import crs as crs_mod
from gis_patrimoine.api.deps import Coll
from gis_patrimoine.api.features import base_url
from gis_patrimoine.api.runtime import Rt, Runtime
from gis_patrimoine.collection import Collection, Filter, RenderedTile

router = APIRouter()
INSEE = re.compile(r"[0-9][0-9AB][0-9]{3}")
TMS = morecantile.tms.get("WebMercatorQuad")
MVT = "application/vnd.mapbox-vector-tile"


@dataclass(frozen=True)
class TileRequest:
    """One tile of one or more collections, with its optional filter (one collection) and communes."""

    z: int
    x: int
    y: int
    where: Filter | None = None
    communes: list[str] = field(default_factory=list)

    def key(self, colls: list[Collection], versions: dict[str, int]) -> tuple:
        """Everything that decides the tile's content, its data versions first."""
        return (
            tuple((c.id, versions.get(c.table, 0)) for c in colls),
            self.z,
            self.x,
            self.y,
            self.where.text if self.where else "",
            tuple(self.communes),
        )


def _check_tile(tms: str, z: int, x: int, y: int) -> None:
    if tms != "WebMercatorQuad":
        raise HTTPException(404, f"tile matrix set {tms!r} is not available; use WebMercatorQuad")
    if not 0 <= z <= 24:
        raise HTTPException(400, f"zoom {z} is out of range 0–24")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise HTTPException(400, f"tile {z}/{y}/{x} does not exist: x and y must be in 0–{2**z - 1}")


async def _render(rt: Runtime, coll: Collection, tile: TileRequest) -> RenderedTile:
    """One layer of a tile, on its own pooled connection (the layers of a composite tile render in parallel)."""
    async with rt.connection() as conn:
        rendered = await coll.tile(conn, tile.z, tile.x, tile.y, tile.where, tile.communes, rt.settings.slow_tile_ms)
    rt.clock.seen(coll.table, rendered.version)
    return rendered


def _etag(key: tuple) -> str:
    return '"' + hashlib.sha1(repr(key).encode()).hexdigest()[:20] + '"'


async def answer_tile(
    rt: Runtime, colls: list[Collection], tile: TileRequest, if_none_match: str | None = None
) -> Response:
    """A tile from the cache when its layers' versions, read after the request arrived, are those it was cached
    under; otherwise rendered, each layer with its version read in the same statement.

    When the tile is not in the cache even under the last versions seen, it is rendered straight away (one
    round trip: a version read would not save the rendering); a revalidation (If-None-Match) or a likely hit
    first reads the versions (one query shared by all requests arriving meanwhile).
    """
    colls = [c for c in colls if c.shows_at(tile.z)]
    cache, clock = rt.tile_cache, rt.clock
    likely = cache.contains(tile.key(colls, clock.latest))
    if if_none_match or likely:
        key = tile.key(colls, await clock.read())
        hit = cache.get(key)
        etag = hit[2] if hit is not None else _etag(key)
        if if_none_match == etag:
            return Response(status_code=304, headers=_headers(etag))
        if hit is not None:
            return _answer(hit[0], hit[1], etag, "hit")
    parts = await asyncio.gather(*(_render(rt, c, tile) for c in colls))
    key = tile.key(colls, {c.table: p.version for c, p in zip(colls, parts, strict=True)})
    data = b"".join(p.data for p in parts)
    truncated = ",".join(c.id for c, p in zip(colls, parts, strict=True) if p.truncated)
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


def _communes(commune: list[str] | None) -> list[str]:
    codes = [c.strip() for item in commune for c in item.split(",") if c.strip()] if commune else []
    if bad := [c for c in codes if not INSEE.fullmatch(c)]:
        raise HTTPException(400, f"commune: {bad[0][:40]!r} is not an INSEE code (5 characters, e.g. 53130)")
    return codes


@router.get(
    "/collections/{collection_id}/tiles/{tms}/{z}/{y}/{x}",
    summary="Vector tile of one collection",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 204: {"description": "Empty tile"}},
)
async def collection_tile(
    request: Request,
    rt: Rt,
    coll: Coll,
    tms: str,
    z: int,
    y: int,
    x: int,
    commune: Annotated[list[str] | None, Query(description="Only these communes (INSEE codes)")] = None,
    filter: Annotated[str | None, Query(description="CQL2 filter")] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang")] = None,
) -> Response:
    _check_tile(tms, z, x, y)
    tile = TileRequest(z, x, y, coll.filter(filter, filter_lang), _communes(commune))
    return await answer_tile(rt, [coll], tile, request.headers.get("if-none-match"))


@router.get(
    "/tiles/{tms}/{z}/{y}/{x}",
    summary="Vector tile of all layers",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}, 204: {"description": "Empty tile"}},
)
async def composite_tile(
    request: Request,
    rt: Rt,
    tms: str,
    z: int,
    y: int,
    x: int,
    collections: Annotated[str | None, Query(description="Comma-separated collections (default: all)")] = None,
    commune: Annotated[list[str] | None, Query(description="Only these communes (INSEE codes)")] = None,
) -> Response:
    _check_tile(tms, z, x, y)
    tile = TileRequest(z, x, y, None, _communes(commune))
    return await answer_tile(rt, rt.collections.pick(collections), tile, request.headers.get("if-none-match"))


def tilejson(rt: Runtime, colls: list[Collection], tiles_url: str) -> dict:
    layers = [c.layer for c in colls]
    bounds = rt.bounds
    return {
        "tilejson": "3.0.0",
        "name": ", ".join(layer.collection for layer in layers),
        "tiles": [tiles_url],
        "minzoom": min(layer.tiles.minzoom for layer in layers),
        "maxzoom": max(layer.tiles.maxzoom for layer in layers),
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 11],
        "vector_layers": [
            {
                "id": layer.collection,
                "description": layer.title.fr,
                "minzoom": layer.tiles.minzoom,
                "maxzoom": layer.tiles.maxzoom,
                "fields": {p: layer.attribute(p).title.fr for p in coll.tile_fields()},
            }
            for coll, layer in zip(colls, layers, strict=True)
        ],
        "attribution": "Communes: IGN – Admin Express (Licence Ouverte)",
    }


@router.get("/tiles/{tms}/tilejson.json", summary="TileJSON of all layers")
async def composite_tilejson(request: Request, rt: Rt, tms: str, collections: str | None = None) -> JSONResponse:
    _check_tile(tms, 0, 0, 0)
    query = f"?collections={collections}" if collections else ""
    url = f"{base_url(request)}/tiles/{tms}/{{z}}/{{y}}/{{x}}{query}"
    return JSONResponse(tilejson(rt, rt.collections.pick(collections), url))


@router.get("/collections/{collection_id}/tiles/{tms}/tilejson.json", summary="TileJSON of one collection")
async def collection_tilejson(request: Request, rt: Rt, coll: Coll, tms: str) -> JSONResponse:
    _check_tile(tms, 0, 0, 0)
    url = f"{base_url(request)}/collections/{coll.id}/tiles/{tms}/{{z}}/{{y}}/{{x}}"
    return JSONResponse(tilejson(rt, [coll], url))


def _tileset(request: Request, prefix: str, colls: list[Collection], title: str) -> dict:
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
        "layers": [{"id": c.id, "dataType": "vector", "geometryType": c.layer.geometry.lower()} for c in colls],
    }


@router.get("/tiles", summary="Tilesets of all layers")
async def composite_tilesets(request: Request, rt: Rt) -> JSONResponse:
    prefix = f"{base_url(request)}/tiles"
    return JSONResponse({"tilesets": [_tileset(request, prefix, list(rt.collections), "All layers")]})


@router.get("/tiles/{tms}", summary="Tileset of all layers")
async def composite_tileset(request: Request, rt: Rt, tms: str) -> JSONResponse:
    _check_tile(tms, 0, 0, 0)
    return JSONResponse(_tileset(request, f"{base_url(request)}/tiles", list(rt.collections), "All layers"))


@router.get("/collections/{collection_id}/tiles", summary="Tilesets of one collection")
async def collection_tilesets(request: Request, coll: Coll) -> JSONResponse:
    prefix = f"{base_url(request)}/collections/{coll.id}/tiles"
    return JSONResponse({"tilesets": [_tileset(request, prefix, [coll], coll.layer.title.fr)]})


@router.get("/collections/{collection_id}/tiles/{tms}", summary="Tileset of one collection")
async def collection_tileset(request: Request, coll: Coll, tms: str) -> JSONResponse:
    _check_tile(tms, 0, 0, 0)
    prefix = f"{base_url(request)}/collections/{coll.id}/tiles"
    return JSONResponse(_tileset(request, prefix, [coll], coll.layer.title.fr))


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
