"""Plain tile requests straight to the tile code, past FastAPI's routing and parameter solving.

A map asks for hundreds of tiles a minute, most of them cached: FastAPI's per-request work (walking the
routes, validating parameters, solving dependencies) then costs more than the tile itself. Requests with
no query string for a known collection and a valid tile are answered here by the same `_tile` as the
routes in api/tiles.py (which stay the documented API and serve every other case: filters, communes,
errors). It sits inside the Guard and CORS middlewares, so tokens and CORS apply as everywhere.
"""

from __future__ import annotations

import re

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from gis_patrimoine.api import tiles
from gis_patrimoine.api.deps import Unavailable

PATH = re.compile(r"/(?:collections/([^/]+)/)?tiles/WebMercatorQuad/(\d{1,2})/(\d{1,9})/(\d{1,9})")


class TileFastPath:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            match = PATH.fullmatch(scope["path"])
        if match is None:
            return await self.app(scope, receive, send)
        collection, z, y, x = match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4))
        state = scope["app"].state
        if collection is None:
            layers = list(state.catalogue.layers.values())
        else:
            layers = [layer for layer in state.catalogue.layers.values() if layer.collection == collection]
        if not layers or z > 24 or x >= 2**z or y >= 2**z:  # the routes say what is wrong
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        try:
            response = await tiles._tile(request, layers, z, x, y, None, None, "")
        except HTTPException as exc:
            response = JSONResponse(
                {"code": exc.status_code, "description": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        except Unavailable as exc:
            response = JSONResponse(
                {"code": 503, "description": str(exc)}, status_code=503, headers={"Retry-After": "2"}
            )
        await response(scope, receive, send)
