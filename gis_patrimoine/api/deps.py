"""FastAPI dependencies: the connection pool, the catalogue, the collection named in the path."""

from __future__ import annotations

import asyncio
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
    """A pooled connection; a saturated pool or a database that is down becomes Unavailable (503). While the
    watcher (`watch_database`) knows the database is down, requests fail at once instead of queueing."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + pool.timeout
    while True:  # wait for a connection in short slices, so that an outage noticed meanwhile ends the wait
        if getattr(pool, "gp_down", False):
            raise Unavailable("the database is unavailable; retry shortly")
        try:
            conn = await pool.getconn(timeout=max(0.05, min(0.5, deadline - loop.time())))
            break
        except PoolTimeout as exc:
            if loop.time() >= deadline:
                raise Unavailable("the database is busy") from exc
        except psycopg.OperationalError as exc:
            pool.gp_down = True
            raise Unavailable(f"the database is unavailable: {str(exc).splitlines()[0]}") from exc
    try:
        yield conn
    except psycopg.OperationalError as exc:
        if not conn.broken:  # a statement timeout, say: the database is fine, the request is not
            raise
        pool.gp_down = True  # the watcher clears it as soon as a connection succeeds again
        raise Unavailable(f"the database is unavailable: {str(exc).splitlines()[0]}") from exc
    finally:
        await pool.putconn(conn)


async def watch_database(pool: AsyncConnectionPool, url: str, others: tuple = ()) -> None:
    """Probe the database twice a second with a fresh connection, so that an outage is known (and requests
    answered 503 at once) within half a second, and its end as fast."""
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=2)
            await conn.close()
            if getattr(pool, "gp_down", False):
                await pool.check()  # replace the connections the outage broke, now rather than after a back-off
            down = False
        except psycopg.OperationalError:
            down = True
        for p in (pool, *others):
            p.gp_down = down
        await asyncio.sleep(0.5)


async def connection(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    async with acquire(request.app.state.pool) as conn:
        yield conn
