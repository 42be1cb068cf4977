"""The service's runtime: everything a request may need, built once in the app's lifespan, typed.

Routers reach it through one dependency (`Rt`); the ASGI middlewares through `runtime(scope["app"])`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import psycopg
from fastapi import Depends, FastAPI, Request
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from gis_patrimoine.catalogue import Catalogue
from gis_patrimoine.collection import Collections
from gis_patrimoine.collection.cache import TileCache
from gis_patrimoine.collection.clock import VersionClock
from gis_patrimoine.db.health import DatabaseHealth, Unavailable
from gis_patrimoine.settings import Settings

T = TypeVar("T")
DEFAULT_BOUNDS = [-5.5, 41.0, 10.0, 51.5]  # France, until the communes say better


@dataclass
class Runtime:
    settings: Settings
    catalogue: Catalogue
    database_url: str
    pool: AsyncConnectionPool  # the requests' read-only connections (autocommit)
    read_pool: ConnectionPool  # the analyses' synchronous read-only calls, run in worker threads
    health: DatabaseHealth
    clock: VersionClock
    collections: Collections
    tile_cache: TileCache
    srid: int  # the storage SRID
    bounds: list[float] = field(default_factory=lambda: list(DEFAULT_BOUNDS))  # the communes, CRS84
    _watcher: asyncio.Task | None = None

    def connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection]:
        """A pooled read-only connection, or Unavailable (503) at once while the database is down."""
        return self.health.acquire(self.pool)

    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(conn, …)` on the synchronous read pool (from a worker thread): 503 at once while the database is
        known to be down, and after 2 s of waiting for a connection."""
        if self.health.down:
            raise Unavailable("the database is unavailable; retry shortly")
        try:
            with self.read_pool.connection(timeout=2.0) as conn:
                return fn(conn, *args, **kwargs)
        except PoolTimeout as exc:
            raise Unavailable("the database is busy") from exc

    @classmethod
    async def start(cls, settings: Settings, catalogue: Catalogue, url: str) -> Runtime:
        options = f"-c statement_timeout={settings.statement_timeout_ms} -c default_transaction_read_only=on"
        pool = AsyncConnectionPool(
            url,
            min_size=settings.pool_min,
            max_size=settings.pool_max,
            timeout=settings.pool_timeout_s,
            open=False,
            kwargs={"options": options, "autocommit": True},
            # no check on each checkout (a round trip per request): after an outage the watcher replaces the
            # broken connections (pool.check) as soon as the database answers again
        )
        await pool.open(wait=True, timeout=30)
        read_pool = ConnectionPool(
            url,
            min_size=1,
            max_size=8,
            timeout=settings.pool_timeout_s,
            open=False,
            kwargs={"options": options},
            check=ConnectionPool.check_connection,
        )
        try:
            await asyncio.to_thread(read_pool.open, True, 30)
            srid, bounds = await _territory(pool)
        except BaseException:  # no half-started service: both pools closed
            await asyncio.to_thread(read_pool.close)
            await pool.close()
            raise
        health = DatabaseHealth()
        rt = cls(
            settings=settings,
            catalogue=catalogue,
            database_url=url,
            pool=pool,
            read_pool=read_pool,
            health=health,
            clock=VersionClock(url, options, lambda: health.down),
            collections=Collections(catalogue, srid),
            tile_cache=TileCache(settings.tile_cache_mb * 1024 * 1024),
            srid=srid,
            bounds=bounds,
        )
        rt._watcher = asyncio.create_task(health.watch(url, pool))
        return rt

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.clock.close()
        await asyncio.to_thread(self.read_pool.close)
        await self.pool.close()


async def _territory(pool: AsyncConnectionPool) -> tuple[int, list[float]]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT value::int FROM patrimoine_sys.setting WHERE key = 'srid'")
        srid = (await cur.fetchone())[0]
        cur = await conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
            "ST_Transform(ST_SetSRID(ST_Extent(geom)::geometry, %s), 4326) e "
            "FROM patrimoine.commune) s",
            (srid,),
        )
        row = await cur.fetchone()
    return srid, [float(v) for v in row] if row and row[0] is not None else list(DEFAULT_BOUNDS)


def runtime_of(app: FastAPI) -> Runtime:
    return app.state.runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


Rt = Annotated[Runtime, Depends(runtime)]
