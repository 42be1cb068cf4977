"""The app factory: settings, the catalogue and a connection pool in `app.state`, one router per concern."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import queue
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from gis_patrimoine import __version__
from gis_patrimoine.analysis.errors import AnalysisRefused
from gis_patrimoine.api import (
    analysis,
    arrangements,
    diagnostic,
    edits,
    features,
    health,
    history,
    imports,
    pages,
    tiles,
)
from gis_patrimoine.api.clock import VersionClock
from gis_patrimoine.api.deps import Unavailable, watch_database
from gis_patrimoine.api.fastpath import TileFastPath
from gis_patrimoine.catalogue import Catalogue, get_catalogue
from gis_patrimoine.db.connection import database_url
from gis_patrimoine.settings import Settings, get_settings
from gis_patrimoine.tiles.cache import TileCache

log = logging.getLogger("gis_patrimoine.api")


def _queued_logging() -> None:
    """The app logs from its event loop: through a queue to a listener thread, so that a slow or full log sink
    (a pipe nobody reads) delays the log lines, never the requests. uvicorn's own loggers (the access lines,
    one per request) go the same way when `serve` leaves their configuration to us (log_config=None); under
    another configuration (the tests' in-process servers) they keep theirs. Records still propagate to the root
    logger's handlers if it has any (tests); without them Python's last-resort stderr writer is no longer used."""
    logger = logging.getLogger("gis_patrimoine")
    if any(isinstance(h, logging.handlers.QueueHandler) for h in logger.handlers):
        return
    q: queue.SimpleQueue = queue.SimpleQueue()
    sink = logging.StreamHandler()
    sink.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.handlers.QueueListener(q, sink).start()
    handler = logging.handlers.QueueHandler(q)
    logger.addHandler(handler)
    for name in ("uvicorn.error", "uvicorn.access"):
        served = logging.getLogger(name)
        if not served.handlers:
            served.addHandler(handler)
            served.propagate = False


DEFAULT_BOUNDS = [-5.5, 41.0, 10.0, 51.5]  # France, until the communes say better


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
    return srid, [float(v) for v in row] if row and row[0] is not None else DEFAULT_BOUNDS


class Guard:
    """Bodies over the limit are refused before they are read; with read_requires_token, every request but
    the health checks needs a valid token. Plain ASGI: a BaseHTTPMiddleware would cost a third of the
    throughput of cached tiles."""

    PUBLIC = ("/health", "/ready", "/favicon.ico")

    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.settings.max_body_mb * 1024 * 1024
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                body = {"code": 413, "description": f"request body over {self.settings.max_body_mb} MB"}
                return await JSONResponse(body, status_code=413)(scope, receive, send)
        public = scope["method"] == "OPTIONS" or scope["path"] in self.PUBLIC
        if self.settings.read_requires_token and not public:
            from gis_patrimoine.api.auth import account
            from gis_patrimoine.api.deps import acquire

            request = Request(scope)
            try:
                async with acquire(scope["app"].state.pool) as conn:
                    await account(request, conn)
            except HTTPException as exc:
                body = {"code": exc.status_code, "description": exc.detail}
                return await JSONResponse(body, status_code=exc.status_code, headers=exc.headers)(scope, receive, send)
            except Unavailable as exc:
                response = JSONResponse(
                    {"code": 503, "description": str(exc)}, status_code=503, headers={"Retry-After": "2"}
                )
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, url: str | None = None, catalogue: Catalogue | None = None) -> FastAPI:
    settings = settings or get_settings()
    _queued_logging()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.database_url = url or database_url(settings)
        options = f"-c statement_timeout={settings.statement_timeout_ms} -c default_transaction_read_only=on"
        pool = AsyncConnectionPool(
            app.state.database_url,
            min_size=settings.pool_min,
            max_size=settings.pool_max,
            timeout=settings.pool_timeout_s,
            open=False,
            kwargs={"options": options, "autocommit": True},
            # no check on each checkout (a round trip per request): after an outage the watcher replaces the
            # broken connections (pool.check) as soon as the database answers again
        )
        await pool.open(wait=True, timeout=30)
        app.state.pool = pool
        app.state.clock = VersionClock(app.state.database_url, options, lambda: getattr(pool, "gp_down", False))
        # the analyses' read-only calls are synchronous code run in worker threads: a small pool of their own
        app.state.read_pool = ConnectionPool(
            app.state.database_url,
            min_size=1,
            max_size=8,
            timeout=settings.pool_timeout_s,
            open=False,
            kwargs={
                "options": f"-c statement_timeout={settings.statement_timeout_ms} -c default_transaction_read_only=on"
            },
            check=ConnectionPool.check_connection,
        )
        await asyncio.to_thread(app.state.read_pool.open, True, 30)
        app.state.srid, app.state.bounds = await _territory(pool)
        watcher = asyncio.create_task(watch_database(pool, app.state.database_url, (app.state.read_pool,)))
        try:
            yield
        finally:
            watcher.cancel()
            await app.state.clock.close()
            await asyncio.to_thread(app.state.read_pool.close)
            await pool.close()

    app = FastAPI(
        title=settings.api_title,
        version=__version__,
        openapi_url="/api",
        docs_url="/docs",
        lifespan=lifespan,
        description="OGC API – Features and Tiles over the public-space assets of the communes.",
    )
    app.state.settings = settings
    app.state.catalogue = catalogue or get_catalogue()
    app.state.tile_cache = TileCache(settings.tile_cache_mb * 1024 * 1024)
    app.state.versioned_cache = features.VersionedCache()

    app.include_router(health.router, tags=["Health"])
    app.include_router(features.router, tags=["OGC API – Features"])
    app.include_router(edits.router, tags=["OGC API – Features, Part 4: writes"])
    app.include_router(tiles.router, tags=["OGC API – Tiles"])

    app.include_router(history.router, tags=["History"])
    app.include_router(imports.router, tags=["Imports"])
    app.include_router(analysis.router, tags=["Analysis"])
    app.include_router(diagnostic.router, tags=["Diagnostic"])
    app.include_router(arrangements.router, tags=["Pooling arrangements"])
    app.include_router(pages.router, tags=["Map"])
    maplibre = Path(settings.static_dir) / "maplibre-gl" / "dist"
    if maplibre.exists():
        app.mount("/static/maplibre-gl", StaticFiles(directory=maplibre), name="maplibre")
    else:
        log.warning("MapLibre GL JS not found in %s: run `make setup` (npm ci) for the map page", maplibre)

    app.add_middleware(TileFastPath)  # innermost: behind the Guard and CORS
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Location"],
        )

    app.add_middleware(Guard, settings=settings)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"code": exc.status_code, "description": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"code": 400, "description": problems}, status_code=400)

    @app.exception_handler(AnalysisRefused)
    async def analysis_refused(request: Request, exc: AnalysisRefused) -> JSONResponse:
        """Nothing to plan, a depot off the road, zones that cannot be balanced…: the message says what to change."""
        return JSONResponse({"code": 422, "description": str(exc)}, status_code=422)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        return JSONResponse({"code": 503, "description": str(exc)}, status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"code": 503, "description": "the database is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        """Never a stack trace to the client: logged here, a short JSON answer there."""
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"code": 500, "description": "internal error; it has been logged"}, status_code=500)

    @app.exception_handler(psycopg.errors.QueryCanceled)
    async def too_long(request: Request, exc: psycopg.Error) -> JSONResponse:
        return JSONResponse(
            {"code": 503, "description": "the request took too long; narrow it (bbox, limit, filter)"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    return app
