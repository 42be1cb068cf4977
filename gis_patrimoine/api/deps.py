"""FastAPI dependencies: the runtime (api/runtime.py), a pooled connection, the collection named in the path,
and the catalogue's names at the API's edge (a layer, a service, a profile), checked against the catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import psycopg
from fastapi import Depends
from pydantic import AfterValidator

from gis_patrimoine.api.runtime import Rt
from gis_patrimoine.catalogue import Catalogue, Layer, get_catalogue
from gis_patrimoine.collection import Collection, QueryError


async def connection(rt: Rt) -> AsyncIterator[psycopg.AsyncConnection]:
    async with rt.connection() as conn:
        yield conn


Conn = Annotated[psycopg.AsyncConnection, Depends(connection)]


async def records(conn: psycopg.AsyncConnection, query: str, keys: tuple[str, ...]) -> list[dict]:
    """The rows of a listing as JSON objects named by `keys` (times in ISO 8601)."""
    cur = await conn.execute(query)
    return [
        {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in zip(keys, row, strict=True)}
        for row in await cur.fetchall()
    ]


def collection(rt: Rt, collection_id: str) -> Collection:
    """The collection named in the path (404 with the known ones otherwise)."""
    return rt.collections.get(collection_id)


Coll = Annotated[Collection, Depends(collection)]


def _service(name: str) -> str:
    codes = get_catalogue().codelists["service"].codes
    if name not in codes:
        raise ValueError(f"unknown service {name!r}; services: {', '.join(codes)}")
    return name


# a maintenance service of the catalogue's code list (lighting, green_spaces…); the OpenAPI document lists them
Service = Annotated[str, AfterValidator(_service)]


def asset_layer(catalogue: Catalogue, name: str) -> Layer:
    """An asset layer by collection id or layer name, for imports."""
    for layer in catalogue.asset_layers:
        if name in (layer.collection, layer.name):
            return layer
    known = ", ".join(layer.collection for layer in catalogue.asset_layers)
    raise QueryError(f"layer: {name!r} is not an asset layer; asset layers: {known}")


def edge_enums(schema: dict, catalogue: Catalogue) -> dict:
    """The OpenAPI document with the catalogue's names listed where the API takes them: collection ids in
    paths, asset layers and profiles of imports, services in analysis bodies."""
    assets = catalogue.asset_layers
    names = {
        "collection_id": [layer.collection for layer in catalogue.layers.values()],
        "layer": [layer.collection for layer in assets],
        "profile": sorted({"default", *(p for layer in assets for p in layer.profiles)}),
        "service": catalogue.codelists["service"].codes,
    }

    def listed(target: dict, enum: list[str]) -> None:
        options = target.get("anyOf")
        for option in options or [target]:
            if option.get("type") == "string":
                option["enum"] = enum

    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param.get("name") in names:
                    listed(param["schema"], names[param["name"]])
    for component in schema.get("components", {}).get("schemas", {}).values():
        prop = component.get("properties", {}).get("service")
        if prop is not None:
            listed(prop, names["service"])
    return schema
