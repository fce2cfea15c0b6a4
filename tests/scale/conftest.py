"""Fixtures for the scale-out tests: one real redis-server for the whole run.

The server is Debian's ``redis-server`` (``apt-get install redis-server``), started on a
free loopback port in a temporary directory with persistence off. Without the binary the
tests that need it skip, saying so; the memory-store half of the contract suite still runs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scale_kit import RedisServer, redis_binary


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of this run's own (skips when the binary is not installed)."""
    binary = redis_binary()
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    server = RedisServer(binary)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """The URL of database 0, which the process tests share (sessions have random ids)."""
    return redis_server.url + "/0"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> str:
    """The store a contract test runs on: ``memory``, or an emptied Redis database."""
    if request.param == "memory":
        return "memory"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.fresh_db()
