"""End-to-end fixtures: a real ``gradserve serve`` subprocess, reached over real HTTP."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest
from e2e_http import MAIN_SERVER_ENV, ServerProcess, Session, SpawnServer


def _report_stderr(request: pytest.FixtureRequest, server: ServerProcess, failed: bool) -> None:
    """Show the server's own log when something went wrong (pytest would hide it)."""
    code = server.proc.returncode if server.proc is not None else None
    if not failed and code in (None, 0):
        return
    text = f"\n----- stderr of {' '.join(server.argv)} (exit {code}) -----\n{server.stderr()}\n"
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        sys.stderr.write(text)
        return
    with capman.global_and_fixture_disabled():
        sys.stderr.write(text)


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL of one live server shared by the whole test session."""
    proc = ServerProcess(env=MAIN_SERVER_ENV)
    failed_before = request.session.testsfailed
    try:
        proc.start()
        yield proc.url
    finally:
        proc.stop()
        _report_stderr(request, proc, request.session.testsfailed > failed_before)
        proc.close()


@pytest.fixture
def spawn_server(request: pytest.FixtureRequest) -> Iterator[SpawnServer]:
    """Start extra servers for one test (their own settings); each is stopped afterwards."""
    started: list[ServerProcess] = []
    failed_before = request.session.testsfailed

    def spawn(env: dict[str, str] | None = None, command: list[str] | None = None) -> ServerProcess:
        proc = ServerProcess(command=command, env=env)
        started.append(proc)
        return proc.start()

    yield spawn
    for proc in started:
        proc.stop()
        _report_stderr(request, proc, request.session.testsfailed > failed_before)
        proc.close()


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
