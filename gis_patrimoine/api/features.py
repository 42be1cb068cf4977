"""OGC API – Features: landing page, conformance, collections, queryables, items (Parts 1, 2 and 3)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from gis_patrimoine.api import crs as crs_mod
from gis_patrimoine.api.deps import Coll, Conn
from gis_patrimoine.api.html import render_html, wants_html
from gis_patrimoine.api.runtime import Rt, Runtime
from gis_patrimoine.collection import Collection, ItemsQuery

router = APIRouter()

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/dataset-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def json_response(
    request: Request, body: dict, title: str, headers: dict | None = None, media_type: str = "application/json"
) -> Response:
    if wants_html(request):
        return render_html(title, body, request)
    return Response(json.dumps(body, ensure_ascii=False, default=str), media_type=media_type, headers=headers)


@router.get("/", summary="Landing page")
async def landing(request: Request, rt: Rt) -> Response:
    base = base_url(request)
    body = {
        "title": rt.settings.api_title,
        "description": "Public-space assets of the communes: roads, green spaces, street lights, buildings, depots.",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "This document"},
            {
                "href": f"{base}/api",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "The API definition",
            },
            {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html", "title": "The API documentation"},
            {
                "href": f"{base}/conformance",
                "rel": "conformance",
                "type": "application/json",
                "title": "Conformance classes",
            },
            {"href": f"{base}/collections", "rel": "data", "type": "application/json", "title": "Collections"},
            {
                "href": f"{base}/tiles",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                "type": "application/json",
                "title": "Vector tiles of all layers",
            },
            {
                "href": f"{base}/styles/default/style.json",
                "rel": "stylesheet",
                "type": "application/vnd.mapbox.style+json",
                "title": "MapLibre style",
            },
            {"href": f"{base}/map", "rel": "alternate", "type": "text/html", "title": "Map"},
        ],
    }
    return json_response(request, body, body["title"])


@router.get("/conformance", summary="Conformance classes")
async def conformance(request: Request) -> Response:
    return json_response(request, {"conformsTo": CONFORMANCE}, "Conformance")


def collection_body(request: Request, rt: Runtime, coll: Collection, extent: tuple | None) -> dict:
    layer = coll.layer
    url = f"{base_url(request)}/collections/{coll.id}"
    body = {
        "id": coll.id,
        "title": layer.title.fr,
        "description": layer.description,
        "itemType": "feature",
        "crs": crs_mod.supported(rt.srid),
        "storageCrs": crs_mod.uri_of(rt.srid),
        "links": [
            {"href": url, "rel": "self", "type": "application/json"},
            {"href": f"{url}/items", "rel": "items", "type": "application/geo+json", "title": "Features"},
            {
                "href": f"{url}/queryables",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "type": "application/schema+json",
                "title": "Queryables",
            },
            {
                "href": f"{url}/tiles",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                "type": "application/json",
                "title": "Vector tiles",
            },
        ],
    }
    if extent:
        body["extent"] = {"spatial": {"bbox": [list(extent)], "crs": crs_mod.CRS84}}
    return body


@router.get("/collections", summary="The collections")
async def collections(request: Request, rt: Rt, conn: Conn) -> Response:
    versions = await rt.clock.read()
    items = [
        collection_body(request, rt, coll, await coll.extent(conn, versions.get(coll.table, 0)))
        for coll in rt.collections
    ]
    base = base_url(request)
    body = {"collections": items, "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}]}
    return json_response(request, body, "Collections")


@router.get("/collections/{collection_id}", summary="One collection")
async def collection(request: Request, rt: Rt, coll: Coll, conn: Conn) -> Response:
    extent = await coll.extent(conn, (await rt.clock.read()).get(coll.table, 0))
    return json_response(request, collection_body(request, rt, coll, extent), coll.layer.title.fr)


@router.get("/collections/{collection_id}/queryables", summary="Queryable properties (JSON Schema)")
async def queryables(request: Request, coll: Coll) -> Response:
    body = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base_url(request)}/collections/{coll.id}/queryables",
        "type": "object",
        "title": coll.layer.title.fr,
        "properties": coll.queryables(),
    }
    return json_response(request, body, f"Queryables of {coll.layer.title.fr}", media_type="application/schema+json")


def _parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        values = [float(v) for v in bbox.split(",")]
    except ValueError as exc:
        raise HTTPException(400, f"bbox: {bbox!r} is not 4 or 6 numbers") from exc
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values) or values[0] > values[2] or values[1] > values[3]:
        raise HTTPException(400, f"bbox: {bbox!r} must be minx,miny,maxx,maxy")
    return values[0], values[1], values[2], values[3]


def _names(properties: str | None) -> list[str] | None:
    return None if properties is None else [p.strip() for p in properties.split(",") if p.strip()]


RESERVED = {"limit", "offset", "bbox", "bbox-crs", "crs", "properties", "sortby", "filter", "filter-lang"}
RESERVED |= {"filter-crs", "f"}


@router.get("/collections/{collection_id}/items", summary="Features of a collection")
async def items(
    request: Request,
    rt: Rt,
    coll: Coll,
    conn: Conn,
    limit: Annotated[int | None, Query(ge=1, description="At most this many features (capped)")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    crs: str | None = None,
    properties: str | None = None,
    sortby: str | None = None,
    filter: Annotated[str | None, Query(description="CQL2 text or JSON")] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang")] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
) -> Response:
    settings = rt.settings
    out_srid = crs_mod.to_srid(crs, rt.srid)
    limit = min(limit or settings.default_limit, settings.max_limit)
    query = ItemsQuery(
        limit=limit,
        offset=offset,
        properties=_names(properties),
        sortby=sortby,
        bbox=_parse_bbox(bbox),
        bbox_srid=crs_mod.to_srid(bbox_crs, rt.srid, "bbox-crs"),
        filter=coll.filter(filter, filter_lang, crs_mod.to_srid(filter_crs, rt.srid, "filter-crs")),
        equals={k: v for k, v in request.query_params.items() if k not in RESERVED},
        out_srid=out_srid,
    )
    # the data version from the clock (one query shared with the requests arriving meanwhile), read while the
    # page is fetched; the count is kept per filter and version
    versions, rows = await asyncio.gather(rt.clock.read(), coll.features(conn, query))
    matched = await coll.matched(conn, query, versions.get(coll.table, 0))
    returned = len(rows)
    features = "[" + ",".join(rows) + "]"
    base = f"{base_url(request)}/collections/{coll.id}/items"
    params = {k: v for k, v in request.query_params.items() if k not in ("offset", "f")}

    links = [
        {"href": f"{base}?{urlencode({**params, 'offset': offset})}", "rel": "self", "type": "application/geo+json"},
        {"href": f"{base_url(request)}/collections/{coll.id}", "rel": "collection", "type": "application/json"},
    ]
    if offset + returned < matched:
        links.append(
            {
                "href": f"{base}?{urlencode({**params, 'offset': offset + returned, 'limit': limit})}",
                "rel": "next",
                "type": "application/geo+json",
            }
        )
    if offset > 0:
        links.append(
            {
                "href": f"{base}?{urlencode({**params, 'offset': max(0, offset - limit), 'limit': limit})}",
                "rel": "prev",
                "type": "application/geo+json",
            }
        )
    headers = {"Content-Crs": f"<{crs_mod.uri_of(out_srid)}>"}
    if wants_html(request):
        return render_html(
            coll.layer.title.fr,
            {"type": "FeatureCollection", "features": json.loads(features), "numberMatched": matched, "links": links},
            request,
        )
    body = (
        f'{{"type":"FeatureCollection","numberMatched":{matched},"numberReturned":{returned},'
        f'"links":{json.dumps(links)},"features":{features}}}'
    )
    return Response(body, media_type="application/geo+json", headers=headers)


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature")
async def item(
    request: Request,
    rt: Rt,
    coll: Coll,
    feature_id: str,
    conn: Conn,
    crs: str | None = None,
    properties: str | None = None,
) -> Response:
    out_srid = crs_mod.to_srid(crs, rt.srid)
    row = await coll.one(conn, feature_id, _names(properties), out_srid)
    if row is None:
        raise HTTPException(404, f"no feature {feature_id!r} in {coll.id}")
    feature = json.loads(row)
    base = base_url(request)
    feature["links"] = [
        {"href": f"{base}/collections/{coll.id}/items/{feature_id}", "rel": "self", "type": "application/geo+json"},
        {"href": f"{base}/collections/{coll.id}", "rel": "collection", "type": "application/json"},
    ]
    if wants_html(request):
        return render_html(f"{coll.layer.title.fr} {feature_id}", feature, request)
    return Response(
        json.dumps(feature, ensure_ascii=False),
        media_type="application/geo+json",
        headers={"Content-Crs": f"<{crs_mod.uri_of(out_srid)}>"},
    )
