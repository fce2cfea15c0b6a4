"""Fixtures for every test folder. The harness itself is ``tests/_kit`` (``import _kit``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from _kit.server import ServerProcess, SpawnServer, serving


@pytest.fixture
def spawn_server(request: pytest.FixtureRequest) -> Iterator[SpawnServer]:
    """Start ``gradserve serve`` processes for one test, each with its own settings
    (``spawn(env=None, command=None, args=())``); each is stopped afterwards, and its output
    shown when the test failed."""
    started: list[ServerProcess] = []

    def spawn(
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        args: Sequence[str] = (),
    ) -> ServerProcess:
        server = ServerProcess(command=command, env=env, args=args)
        started.append(server)
        return server.start()

    with serving(request, started):
        yield spawn
