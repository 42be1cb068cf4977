"""For modules whose tests write to the demo (tokens, stored analyses, edits): `from tests.writable import api,
demo_db` makes their `demo_db` and `api` the module's writable clone and its server, not the shared read-only
demo (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def demo_db(demo_rw: str) -> str:
    return demo_rw


@pytest.fixture(scope="module")
def api(api_rw: str) -> str:
    return api_rw
