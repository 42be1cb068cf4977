"""`gis-patrimoine serve`: the API with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes", min=1)] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve OGC API Features, vector tiles, the style and the map page."""
    import uvicorn

    uvicorn.run(
        "gis_patrimoine.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=None,  # uvicorn's lines go through the app's log queue (api/app.py): a full sink never blocks
        proxy_headers=True,
    )
