"""A real gis-patrimoine server for the tests: uvicorn in a thread, on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from gis_patrimoine.api.app import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(url: str, **app_options) -> Iterator[str]:
    """`app_options` go to create_app (settings, catalogue)."""
    port = free_port()
    config = uvicorn.Config(create_app(url=url, **app_options), host="127.0.0.1", port=port, log_level="warning")

    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def add_token(url: str, user: str, role: str, communes: list[str] | tuple = ()) -> dict:
    """Give `user` the API token `token-<user>` (stored hashed, as the product does); returns its header."""
    import hashlib

    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO patrimoine_sys.api_token (token_sha256, username, role, communes) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (hashlib.sha256(f"token-{user}".encode()).hexdigest(), user, role, list(communes)),
        )
    return {"Authorization": f"Bearer token-{user}"}


def wait_for(condition, what: str, seconds: float = 60) -> None:
    """Poll until `condition()` holds; fail naming `what` if it never does (a bound on the wait, never a silent
    end of it, and no timed assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)
