"""The version clock: fresh for every caller, one query for callers waiting together."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from gis_patrimoine.collection.clock import VersionClock
from gis_patrimoine.db.connection import with_dbname
from gis_patrimoine.db.health import Unavailable
from tests import writable

demo_db, api = writable.demo_db, writable.api  # this module writes: its own clone of the demo


def test_reads_are_shared_and_never_stale(demo_db: str) -> None:
    async def scenario() -> None:
        clock = VersionClock(demo_db)
        try:
            first = await asyncio.gather(*(clock.read() for _ in range(50)))
            assert all(v == first[0] for v in first) and "street_light" in first[0]
            assert clock.queries <= 2  # the first caller's query, then one for all who came meanwhile
            with psycopg.connect(demo_db) as conn:  # a real edit committed by another client (QGIS, an import)
                conn.execute(
                    "UPDATE patrimoine.street_light SET power_w = power_w + 1 "
                    "WHERE id = (SELECT min(id) FROM patrimoine.street_light)"
                )
            after = await clock.read()
            assert after["street_light"] == first[0]["street_light"] + 1
            assert clock.latest["street_light"] == after["street_light"]
        finally:
            await clock.close()

    asyncio.run(scenario())


def test_an_outage_is_answered_at_once(demo_db: str) -> None:
    async def scenario() -> None:
        clock = VersionClock(demo_db, down=lambda: True)
        with pytest.raises(Unavailable):
            await clock.read()
        broken = VersionClock(with_dbname(demo_db, "gp_no_such_database"))
        with pytest.raises(Unavailable):
            await broken.read()
        await broken.close()

    asyncio.run(scenario())
