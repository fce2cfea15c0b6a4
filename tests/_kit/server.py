"""``gradserve serve`` as a subprocess on a free loopback port, for every test folder.

One implementation (``bench.common.Process``: its own process group, output in a temporary
file, SIGTERM then SIGKILL, waited for) serves the e2e, client, scale and deploy tests and
the benchmarks alike. Nothing here imports the service.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence

import pytest

from bench.common import ROOT, Process, clean_env, free_port, gradserve_argv, gradserve_head

__all__ = [
    "REPO_ROOT",
    "ServerProcess",
    "SpawnServer",
    "free_port",
    "gradserve_command",
    "report_output",
    "run_gradserve",
    "running_server",
    "serving",
]

REPO_ROOT = ROOT


def gradserve_command() -> list[str]:
    """The ``gradserve`` console script next to this interpreter (else ``python -m service``)."""
    return gradserve_head()


class ServerProcess(Process):
    """``gradserve serve [ARGS]`` with ``env`` over a clean environment (no ambient
    ``GRADSERVE_*``); ``command`` replaces the ``gradserve`` script (``python -m service``).
    Not started: :meth:`start` launches it and waits until ``ready_path`` answers 200."""

    def __init__(
        self,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        log_level: str = "warning",
        args: Sequence[str] = (),
        ready_path: str = "/healthz",
    ) -> None:
        super().__init__(
            lambda port: gradserve_argv(port, *args, command=command, log_level=log_level),
            env=clean_env(env),
            ready_path=ready_path,
        )

    def start(self, timeout: float = 30.0, attempts: int = 3) -> ServerProcess:
        super().start(timeout, attempts)
        return self


SpawnServer = Callable[..., ServerProcess]
"""The ``spawn_server`` fixture: ``spawn(env=None, command=None, args=())`` -> a started
server, stopped after the test."""


def report_output(request: pytest.FixtureRequest, server: Process, failed: bool) -> None:
    """Show a server's own output when something went wrong (pytest would hide it)."""
    code = server.proc.returncode if server.proc is not None else None
    if not failed and code in (None, 0):
        return
    text = f"\n----- output of {' '.join(server.argv)} (exit {code}) -----\n{server.log()}\n"
    capman = request.config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        sys.stderr.write(text)
        return
    with capman.global_and_fixture_disabled():
        sys.stderr.write(text)


@contextlib.contextmanager
def serving(request: pytest.FixtureRequest, servers: Sequence[Process]) -> Iterator[None]:
    """Stop and close ``servers`` (as the list is on the way out: a test may add to it),
    showing each one's output if a test failed meanwhile or it exited with an error."""
    failed_before = request.session.testsfailed
    try:
        yield
    finally:
        for server in servers:
            server.stop()
            report_output(request, server, request.session.testsfailed > failed_before)
            server.close()


def run_gradserve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``gradserve ARGS`` to completion (a refused or bad command line), in a clean environment;
    its exit status and output."""
    return subprocess.run(
        [*gradserve_command(), *args],
        cwd=REPO_ROOT,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextlib.contextmanager
def running_server(env: dict[str, str] | None = None, timeout: float = 60.0) -> Iterator[str]:
    """``gradserve serve`` with ``env`` settings; its URL once /healthz answers."""
    server = ServerProcess(env=env)
    try:
        try:
            server.start(timeout)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield server.url
    finally:
        server.close()
