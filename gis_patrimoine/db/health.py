"""Whether the database answers, known within half a second, and pooled connections that say so.

The service's pools and its version clock ask one `DatabaseHealth`: while the watcher knows the database is
down, requests fail at once with `Unavailable` (503 and Retry-After) instead of queueing for a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout


class Unavailable(Exception):
    """The database cannot be reached or the pool is saturated: answered 503 with Retry-After."""


class DatabaseHealth:
    """The watcher's verdict, shared by everything that would otherwise wait on a dead database."""

    def __init__(self) -> None:
        self.down = False

    @asynccontextmanager
    async def acquire(self, pool: AsyncConnectionPool) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection; a saturated pool or a database that is down becomes Unavailable (503)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + pool.timeout
        while True:  # wait for a connection in short slices, so that an outage noticed meanwhile ends the wait
            if self.down:
                raise Unavailable("the database is unavailable; retry shortly")
            try:
                conn = await pool.getconn(timeout=max(0.05, min(0.5, deadline - loop.time())))
                break
            except PoolTimeout as exc:
                if loop.time() >= deadline:
                    raise Unavailable("the database is busy") from exc
            except psycopg.OperationalError as exc:
                self.down = True
                raise Unavailable(f"the database is unavailable: {str(exc).splitlines()[0]}") from exc
        try:
            yield conn
        except psycopg.OperationalError as exc:
            if not conn.broken:  # a statement timeout, say: the database is fine, the request is not
                raise
            self.down = True  # the watcher clears it as soon as a connection succeeds again
            raise Unavailable(f"the database is unavailable: {str(exc).splitlines()[0]}") from exc
        finally:
            await pool.putconn(conn)

    async def watch(self, url: str, pool: AsyncConnectionPool) -> None:
        """Probe the database twice a second with a fresh connection, so that an outage is known (and requests
        answered 503 at once) within half a second, and its end as fast."""
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(url, connect_timeout=2)
                await conn.close()
                if self.down:
                    await pool.check()  # replace the connections the outage broke, now rather than after a back-off
                self.down = False
            except psycopg.OperationalError:
                self.down = True
            await asyncio.sleep(0.5)
