"""Plain tile requests straight to the tile code, past FastAPI's routing and parameter solving.

A map asks for hundreds of tiles a minute, most of them cached: FastAPI's per-request work (walking the
routes, validating parameters, solving dependencies) then costs more than the tile itself. Requests with
no query string for a known collection and a valid tile are answered here by the same `answer_tile` as the
routes in api/tiles.py (which stay the documented API and serve every other case: filters, communes,
errors). It sits inside the Guard and CORS middlewares, so tokens and CORS apply as everywhere.
"""

from __future__ import annotations

import re

from gis_patrimoine.api.errors import error_response
from gis_patrimoine.api.runtime import runtime_of
from gis_patrimoine.api.tiles import TileRequest, answer_tile

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
        rt = runtime_of(scope["app"])
        if collection is None:
            colls = list(rt.collections)
        else:
            found = rt.collections.find(collection)
            colls = [found] if found is not None else []
        if not colls or z > 24 or x >= 2**z or y >= 2**z:  # the routes say what is wrong
            return await self.app(scope, receive, send)
        revalidating = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"if-none-match"), None)
        try:
            response = await answer_tile(rt, colls, TileRequest(z, x, y), revalidating)
        except Exception as exc:  # the same answers as the routes': 503 while the database is down…
            response = error_response(exc, scope["path"])
        await response(scope, receive, send)
