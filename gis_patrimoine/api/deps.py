"""FastAPI dependencies: the connection pool, the catalogue, the collection named in the path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import HTTPException, Request
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from gis_patrimoine.catalogue import Catalogue, Layer


class Unavailable(Exception):
    """The database cannot be reached or the pool is saturated: answered 503 with Retry-After."""


def catalogue(request: Request) -> Catalogue:
    return request.app.state.catalogue


def layer_of(request: Request, collection_id: str) -> Layer:
    for layer in request.app.state.catalogue.layers.values():
        if layer.collection == collection_id:
            return layer
    raise HTTPException(404, f"no collection {collection_id!r}")


@asynccontextmanager
async def acquire(pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection]:
    """A pooled connection; a saturated pool or a database that is down becomes Unavailable (503)."""
    try:
        async with pool.connection() as conn:
            yield conn
    except PoolTimeout as exc:
        raise Unavailable("the database is busy") from exc
    except psycopg.OperationalError as exc:
        raise Unavailable(f"the database is unavailable: {str(exc).splitlines()[0]}") from exc


async def connection(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    async with acquire(request.app.state.pool) as conn:
        yield conn


async def versions(conn: psycopg.AsyncConnection, layers: list[str]) -> dict[str, int]:
    cur = await conn.execute("SELECT layer, version FROM patrimoine_sys.data_version WHERE layer = ANY(%s)", (layers,))
    return dict(await cur.fetchall())
