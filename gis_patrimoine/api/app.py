"""The app factory: settings and the catalogue, a typed runtime built in the lifespan (api/runtime.py), one
router per concern, one error map (api/errors.py)."""

from __future__ import annotations

import logging
import logging.handlers
import queue
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from gis_patrimoine import __version__
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
from gis_patrimoine.api.deps import edge_enums
from gis_patrimoine.api.errors import HANDLED, error_response, problem
from gis_patrimoine.api.fastpath import TileFastPath
from gis_patrimoine.api.runtime import Runtime, runtime_of
from gis_patrimoine.catalogue import Catalogue, get_catalogue
from gis_patrimoine.db.connection import database_url
from gis_patrimoine.settings import Settings, get_settings

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
                response = problem(413, f"request body over {self.settings.max_body_mb} MB")
                return await response(scope, receive, send)
        public = scope["method"] == "OPTIONS" or scope["path"] in self.PUBLIC
        if self.settings.read_requires_token and not public:
            from gis_patrimoine.api.auth import account

            request = Request(scope)
            try:
                async with runtime_of(scope["app"]).connection() as conn:
                    await account(request, conn)
            except Exception as exc:  # a missing or bad token (401, 403), the database down (503)
                return await error_response(exc, f"{scope['method']} {scope['path']}")(scope, receive, send)
        return await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, url: str | None = None, catalogue: Catalogue | None = None) -> FastAPI:
    settings = settings or get_settings()
    _queued_logging()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.runtime = await Runtime.start(settings, app.state.catalogue, url or database_url(settings))
        try:
            yield
        finally:
            await app.state.runtime.close()

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

    def openapi() -> dict:
        """FastAPI's document, with the catalogue's names listed where the API takes them."""
        if app.openapi_schema is None:
            edge_enums(FastAPI.openapi(app), app.state.catalogue)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

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

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc, f"{request.method} {request.url.path}")

    for kind in HANDLED:
        app.add_exception_handler(kind, handle)

    return app
