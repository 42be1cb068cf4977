"""The data versions of the layers, read fresh for every request that needs them, in few queries.

A cached tile or count may be served only if the data under it have not changed since. Reading the
versions table for each request costs a round trip and a pooled connection each time. The clock keeps one
connection of its own and answers every request waiting at the same moment with one query that *started
after they asked*: a change committed before a request arrived (by the importer, an API edit, QGIS) is
always seen, so a client never gets a stale tile after its own edit, and under load one query serves
many requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg

from gis_patrimoine.db.health import Unavailable

QUERY = "SELECT layer, version FROM patrimoine_sys.data_version"


class VersionClock:
    def __init__(self, url: str, options: str = "", down: Callable[[], bool] = lambda: False) -> None:
        self.url = url
        self.options = options
        self.down = down  # the database watcher's verdict: during an outage, answer at once
        self.latest: dict[str, int] = {}  # the last versions seen (by a read or alongside a tile)
        self.queries = 0
        self._waiting: list[asyncio.Future] = []
        self._task: asyncio.Task | None = None
        self._conn: psycopg.AsyncConnection | None = None

    async def read(self) -> dict[str, int]:
        """The versions as of a query started after this call."""
        if self.down():
            raise Unavailable("the database is unavailable; retry shortly")
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._serve())
        return await future

    def seen(self, layer: str, version: int) -> None:
        """A version read with a tile: later than or equal to what the clock knows (versions only grow)."""
        if version > self.latest.get(layer, -1):
            self.latest[layer] = version

    async def _serve(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                versions = await self._query()
            except Exception as exc:  # every waiter gets the error; the next read reconnects
                await self._drop()
                error = Unavailable(f"the database is unavailable: {str(exc).splitlines()[0] if str(exc) else exc}")
                for future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for layer, version in versions.items():
                self.seen(layer, version)
            for future in batch:
                if not future.done():
                    future.set_result(versions)

    async def _query(self) -> dict[str, int]:
        try:
            return await self._query_once()
        except psycopg.OperationalError:
            if self._conn is None or not self._conn.broken:
                raise
            await self._drop()  # a connection the server closed (a restart, say): one fresh attempt
            return await self._query_once()

    async def _query_once(self) -> dict[str, int]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=5, options=self.options
            )
        self.queries += 1
        cur = await self._conn.execute(QUERY)
        return dict(await cur.fetchall())

    async def _drop(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close()
            except Exception:  # already broken
                pass
            self._conn = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._drop()
