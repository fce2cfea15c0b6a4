"""Fixtures for the in-process service tests (helpers live in service_testkit).

FastAPI builds each route's state on an app's first requests (~0.3 s an app), so most
tests share one app and isolate themselves by opening their own session; tests that
count app-wide things (metrics, live sessions) take ``fresh_client``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from service_testkit import Sess, make_settings, open_session, serve


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """One app for the whole run (default limits, a fast sweeper)."""
    async with serve(make_settings(max_sessions=100_000)) as c:
        yield c


@pytest.fixture
async def fresh_client() -> AsyncIterator[httpx.AsyncClient]:
    """An app of this test's own."""
    async with serve() as c:
        yield c


@pytest.fixture
async def sess(client: httpx.AsyncClient) -> AsyncIterator[Sess]:
    """A seeded session, deleted afterwards."""
    s = await open_session(client, seed=0)
    yield s
    await s.delete()
