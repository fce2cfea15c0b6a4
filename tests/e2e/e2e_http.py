"""Helpers for the end-to-end tests: a real ``gradserve serve`` process and a session over HTTP.

The tests in this folder talk to the service the way a client does: a subprocess listening on
a free loopback port, and httpx. Nothing here imports the service. The process and the session
are the shared harness's (``tests/_kit``); this module adds the shared server's settings.
"""

from __future__ import annotations

from _kit.http import PROBLEM_JSON, Session, assert_problem
from _kit.server import (
    REPO_ROOT,
    ServerProcess,
    SpawnServer,
    free_port,
    gradserve_command,
    run_gradserve,
)

__all__ = [
    "MAIN_SERVER_ENV",
    "MAX_BODY_BYTES",
    "MAX_TENSOR_ELEMENTS",
    "PROBLEM_JSON",
    "REPO_ROOT",
    "ServerProcess",
    "Session",
    "SpawnServer",
    "assert_problem",
    "free_port",
    "gradserve_command",
    "run_gradserve",
]

# The shared server's settings: small limits, so that the limit tests stay cheap.
MAX_BODY_BYTES = 1024 * 1024
MAX_TENSOR_ELEMENTS = 1_000_000
MAIN_SERVER_ENV = {
    "GRADSERVE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    "GRADSERVE_MAX_TENSOR_ELEMENTS": str(MAX_TENSOR_ELEMENTS),
}
