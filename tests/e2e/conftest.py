"""End-to-end fixtures: a real ``gradserve serve`` subprocess, reached over real HTTP.

``spawn_server`` (extra servers with their own settings) comes from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from _kit.server import ServerProcess, serving
from e2e_http import MAIN_SERVER_ENV, Session


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL of one live server shared by the whole test session."""
    proc = ServerProcess(env=MAIN_SERVER_ENV)
    with serving(request, [proc]):
        yield proc.start().url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30.0) as client:
        yield client


@pytest.fixture
def sess(http: httpx.Client) -> Iterator[Session]:
    """A fresh session, deleted afterwards."""
    s = Session.open(http)
    yield s
    s.delete()
