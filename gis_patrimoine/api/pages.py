"""The MapLibre style generated from the catalogue, and the map page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gis_patrimoine.api.features import base_url
from gis_patrimoine.api.runtime import Rt
from gis_patrimoine.collection.style import style_json

router = APIRouter()
_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(default=True)
)


@router.get("/styles/default/style.json", summary="MapLibre style of all layers")
async def style(request: Request, rt: Rt) -> JSONResponse:
    url = f"{base_url(request)}/tiles/WebMercatorQuad/tilejson.json"
    return JSONResponse(
        style_json(rt.catalogue, url, rt.settings.api_title),
        media_type="application/vnd.mapbox.style+json",
    )


FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
    'fill="#1864ab"/><circle cx="8" cy="8" r="3" fill="#f5c400"/></svg>'
)


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


@router.get("/map", summary="The map page", response_class=HTMLResponse)
async def map_page(request: Request, rt: Rt) -> HTMLResponse:
    b = rt.bounds
    return HTMLResponse(
        _env.get_template("map.html").render(base=base_url(request), bounds=[[b[0], b[1]], [b[2], b[3]]])
    )
