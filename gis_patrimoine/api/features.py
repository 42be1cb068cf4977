"""OGC API – Features: landing page, conformance, collections, queryables, items (Parts 1, 2 and 3)."""

from __future__ import annotations

import asyncio
import json
import math
from collections import OrderedDict
from typing import Annotated
from urllib.parse import urlencode

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from psycopg import sql

from gis_patrimoine.api import crs as crs_mod
from gis_patrimoine.api.cql import to_sql
from gis_patrimoine.api.deps import connection, layer_of
from gis_patrimoine.api.html import render_html, wants_html
from gis_patrimoine.catalogue import Attribute, Layer

router = APIRouter()
Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]

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


class VersionedCache:
    """Small LRU for facts keyed by a layer's data version: numberMatched per filter (counting a million rows
    for every page is wasteful), extents. A new version makes new keys; old ones age out."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._items: OrderedDict[tuple, object] = OrderedDict()

    def get(self, key: tuple) -> object | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple, value: object) -> None:
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)


async def _fetch(conn: psycopg.AsyncConnection, query: sql.Composable) -> list[tuple]:
    cur = await conn.execute(query)
    return await cur.fetchall()


def base_url(request: Request) -> str:

    return str(request.base_url).rstrip("/")


def json_response(
    request: Request, body: dict, title: str, headers: dict | None = None, media_type: str = "application/json"
) -> Response:
    if wants_html(request):
        return render_html(title, body, request)
    return Response(json.dumps(body, ensure_ascii=False, default=str), media_type=media_type, headers=headers)


@router.get("/", summary="Landing page")
async def landing(request: Request) -> Response:
    base = base_url(request)
    body = {
        "title": request.app.state.settings.api_title,
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


def collection_body(request: Request, layer: Layer, extent: tuple | None) -> dict:
    base = base_url(request)
    srid = request.app.state.srid
    url = f"{base}/collections/{layer.collection}"
    body = {
        "id": layer.collection,
        "title": layer.title.fr,
        "description": layer.description,
        "itemType": "feature",
        "crs": crs_mod.supported(srid),
        "storageCrs": crs_mod.uri_of(srid),
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
    if extent and extent[0] is not None:
        body["extent"] = {"spatial": {"bbox": [list(extent)], "crs": crs_mod.CRS84}}
    return body


async def layer_extents(request: Request, conn: psycopg.AsyncConnection, layers: list[Layer]) -> dict[str, tuple]:
    """Extent of each layer in CRS84, computed once per data version (a full scan on big layers)."""
    cache: VersionedCache = request.app.state.versioned_cache
    current = await request.app.state.clock.read()
    extents = {}
    for layer in layers:
        key = ("extent", layer.table, current.get(layer.table, 0))
        extent = cache.get(key)
        if extent is None:
            cur = await conn.execute(
                sql.SQL(
                    "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                    "(SELECT ST_Transform(ST_SetSRID(ST_Extent(geom)::geometry, {}), 4326) AS e FROM {}) s"
                ).format(sql.Literal(request.app.state.srid), layer.qualified)
            )
            extent = await cur.fetchone()
            cache.put(key, extent)
        extents[layer.name] = extent
    return extents


@router.get("/collections", summary="The collections")
async def collections(request: Request, conn: Conn) -> Response:
    base = base_url(request)
    layers = list(request.app.state.catalogue.layers.values())
    extents = await layer_extents(request, conn, layers)
    items = [collection_body(request, layer, extents[layer.name]) for layer in layers]
    body = {"collections": items, "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}]}
    return json_response(request, body, "Collections")


@router.get("/collections/{collection_id}", summary="One collection")
async def collection(request: Request, collection_id: str, conn: Conn) -> Response:
    layer = layer_of(request, collection_id)
    extent = (await layer_extents(request, conn, [layer]))[layer.name]
    return json_response(request, collection_body(request, layer, extent), layer.title.fr)


def queryable_columns(layer: Layer) -> dict[str, str]:
    return {a.name: a.name for a in layer.attributes if a.form.json}


@router.get("/collections/{collection_id}/queryables", summary="Queryable properties (JSON Schema)")
async def queryables(request: Request, collection_id: str) -> Response:
    layer = layer_of(request, collection_id)
    catalogue = request.app.state.catalogue
    props: dict[str, dict] = {"geometry": {"$ref": f"https://geojson.org/schema/{layer.geometry}.json"}}
    for attr in layer.attributes:
        if not attr.form.json:
            continue
        entry: dict = {"title": attr.title.fr, "description": attr.title.en, **attr.form.json}
        if attr.codelist:
            entry["enum" if attr.type == "code" else "items"] = (
                catalogue.codelists[attr.codelist].codes
                if attr.type == "code"
                else {"type": "string", "enum": catalogue.codelists[attr.codelist].codes}
            )
        if attr.min is not None:
            entry["minimum"] = attr.min
        if attr.max is not None:
            entry["maximum"] = attr.max
        props[attr.name] = entry
    body = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base_url(request)}/collections/{collection_id}/queryables",
        "type": "object",
        "title": layer.title.fr,
        "properties": props,
    }
    return json_response(request, body, f"Queryables of {layer.title.fr}", media_type="application/schema+json")


def _parse_bbox(bbox: str | None) -> list[float] | None:
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
    return values


MAX_BBOX_DEG2 = 100.0  # 10° × 10°: more than France; wider boxes are refused, not scanned
MAX_BBOX_M2 = 1.2e12  # the same in metres


def _check_bbox_area(box: list[float], srid: int) -> None:
    area = (box[2] - box[0]) * (box[3] - box[1])
    limit = MAX_BBOX_DEG2 if srid == 4326 else MAX_BBOX_M2
    if area > limit:
        raise HTTPException(400, f"bbox: too wide ({area:.3g} square units); narrow it to the territory")


def _properties(layer: Layer, properties: str | None) -> list[Attribute]:
    attrs = [a for a in layer.attributes if a.name != layer.key]
    if properties is None:
        return attrs
    wanted = [p.strip() for p in properties.split(",") if p.strip()]
    known = {a.name: a for a in attrs}
    unknown = [p for p in wanted if p not in known and p != layer.key]
    if unknown:
        raise HTTPException(400, f"properties: unknown {', '.join(unknown)}; available: {', '.join(known)}")
    return [known[p] for p in wanted if p in known]


def _sortby(layer: Layer, sortby: str | None) -> sql.Composable:
    key = sql.Identifier(layer.key)
    if not sortby:
        return key
    names = {a.name for a in layer.attributes}
    parts = []
    for item in sortby.split(","):
        item = item.strip()
        desc = item.startswith("-")
        name = item.lstrip("+-")
        if name not in names:
            raise HTTPException(400, f"sortby: unknown property {name!r}")
        parts.append(sql.SQL("{} {} NULLS LAST").format(sql.Identifier(name), sql.SQL("DESC" if desc else "ASC")))
    return sql.SQL(", ").join([*parts, key])


def feature_sql(layer: Layer, attrs: list[Attribute], srid: int) -> sql.Composable:
    digits = 7 if srid == 4326 else 3
    props = sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(a.name), sql.Identifier(a.name)) for a in attrs)
    return sql.SQL(
        "json_build_object('type', 'Feature', 'id', {key}, 'geometry', "
        "ST_AsGeoJSON(ST_Transform(geom, {srid}), {digits})::json, 'properties', {props})"
    ).format(
        key=sql.Identifier(layer.key),
        srid=sql.Literal(srid),
        digits=sql.Literal(digits),
        props=sql.SQL("json_build_object({})").format(props) if attrs else sql.SQL("'{}'::json"),
    )


@router.get("/collections/{collection_id}/items", summary="Features of a collection")
async def items(
    request: Request,
    collection_id: str,
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
    layer = layer_of(request, collection_id)
    settings = request.app.state.settings
    storage = request.app.state.srid
    out_srid = crs_mod.to_srid(crs, storage)
    limit = min(limit or settings.default_limit, settings.max_limit)
    attrs = _properties(layer, properties)
    conditions: list[sql.Composable] = []
    box = _parse_bbox(bbox)
    if box:
        bsrid = crs_mod.to_srid(bbox_crs, storage, "bbox-crs")
        _check_bbox_area(box, bsrid)
        envelope = sql.SQL("ST_MakeEnvelope({}, {}, {}, {}, {})").format(
            *(sql.Literal(v) for v in box), sql.Literal(bsrid)
        )
        if bsrid != storage:  # densified, so that the reprojected edges follow the true box
            step = (box[2] - box[0]) / 32 or 1
            envelope = sql.SQL("ST_Transform(ST_Segmentize({}, {}), {})").format(
                envelope, sql.Literal(step), sql.Literal(storage)
            )
        conditions.append(sql.SQL("(geom && {e} AND ST_Intersects(geom, {e}))").format(e=envelope))

    columns = queryable_columns(layer)
    where = to_sql(filter, filter_lang, columns, storage, crs_mod.to_srid(filter_crs, storage, "filter-crs"))
    if where is not None:
        conditions.append(where)
    reserved = {
        "limit",
        "offset",
        "bbox",
        "bbox-crs",
        "crs",
        "properties",
        "sortby",
        "filter",
        "filter-lang",
        "filter-crs",
        "f",
    }
    for name, value in request.query_params.items():
        if name in reserved:
            continue
        if name not in columns:
            raise HTTPException(400, f"unknown query parameter {name!r}; queryables: {', '.join(columns)}")
        conditions.append(sql.SQL("{}::text = {}").format(sql.Identifier(name), sql.Literal(value)))
    where_sql = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    table = layer.qualified
    # the page's rows first, then their JSON: built in the select list of the same query, it would be built for
    # the rows that OFFSET skips too (a thousand for the tenth page)
    order = _sortby(layer, sortby)
    query = sql.SQL(
        "SELECT {feature}::text FROM (SELECT * FROM {table}{where} ORDER BY {order} LIMIT {limit} OFFSET {offset}) "
        "page ORDER BY {order}"
    ).format(
        feature=feature_sql(layer, attrs, out_srid),
        order=order,
        table=table,
        where=where_sql,
        limit=sql.Literal(limit),
        offset=sql.Literal(offset),
    )
    count_query = sql.SQL("SELECT count(*) FROM {table}{where}").format(table=table, where=where_sql)
    counts: VersionedCache = request.app.state.versioned_cache
    try:
        # the data version from the clock (one query shared with the requests arriving meanwhile), read while
        # the page is fetched; a count is kept per filter and version
        current, rows = await asyncio.gather(request.app.state.clock.read(), _fetch(conn, query))
        key = ("count", layer.table, current.get(layer.table, 0), where_sql.as_bytes(None))
        matched = counts.get(key)
        if matched is None:  # counted once per filter and data version: paging does not count again
            matched = (await (await conn.execute(count_query)).fetchone())[0]
            counts.put(key, matched)
    except psycopg.errors.DataException as exc:
        raise HTTPException(400, f"filter: {exc.diag.message_primary}") from exc
    returned = len(rows)
    features = "[" + ",".join(r[0] for r in rows) + "]"
    base = f"{base_url(request)}/collections/{collection_id}/items"
    params = {k: v for k, v in request.query_params.items() if k not in ("offset", "f")}

    links = [
        {"href": f"{base}?{urlencode({**params, 'offset': offset})}", "rel": "self", "type": "application/geo+json"},
        {"href": f"{base_url(request)}/collections/{collection_id}", "rel": "collection", "type": "application/json"},
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
            layer.title.fr,
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
    collection_id: str,
    feature_id: str,
    conn: Conn,
    crs: str | None = None,
    properties: str | None = None,
) -> Response:
    layer = layer_of(request, collection_id)
    out_srid = crs_mod.to_srid(crs, request.app.state.srid)
    key = layer.attribute(layer.key)
    if key.type == "identity" and not feature_id.isdigit():
        raise HTTPException(404, f"no feature {feature_id!r} in {collection_id}")
    query = sql.SQL("SELECT {feature}::text FROM {table} WHERE {key} = {value}").format(
        feature=feature_sql(layer, _properties(layer, properties), out_srid),
        table=layer.qualified,
        key=sql.Identifier(layer.key),
        value=sql.Literal(int(feature_id) if key.type == "identity" else feature_id),
    )
    cur = await conn.execute(query)
    row = await cur.fetchone()
    if row is None:
        raise HTTPException(404, f"no feature {feature_id!r} in {collection_id}")
    feature = json.loads(row[0])
    base = base_url(request)
    feature["links"] = [
        {
            "href": f"{base}/collections/{collection_id}/items/{feature_id}",
            "rel": "self",
            "type": "application/geo+json",
        },
        {"href": f"{base}/collections/{collection_id}", "rel": "collection", "type": "application/json"},
    ]
    if wants_html(request):
        return render_html(f"{layer.title.fr} {feature_id}", feature, request)
    return Response(
        json.dumps(feature, ensure_ascii=False),
        media_type="application/geo+json",
        headers={"Content-Crs": f"<{crs_mod.uri_of(out_srid)}>"},
    )
