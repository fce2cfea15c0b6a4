"""Helpers for the end-to-end tests: a real ``gradserve serve`` process and a session over HTTP.

The tests in this folder talk to the service the way a client does: a subprocess listening on
a free loopback port, and httpx. Nothing here imports the service.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx

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
]

PROBLEM_JSON = "application/problem+json"
REPO_ROOT = Path(__file__).resolve().parents[2]
# The shared server's settings: small limits, so that the limit tests stay cheap.
MAX_BODY_BYTES = 1024 * 1024
MAX_TENSOR_ELEMENTS = 1_000_000
MAIN_SERVER_ENV = {
    "GRADSERVE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    "GRADSERVE_MAX_TENSOR_ELEMENTS": str(MAX_TENSOR_ELEMENTS),
}


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it for 127.0.0.1:0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def gradserve_command() -> list[str]:
    """The installed ``gradserve`` console script next to this interpreter."""
    script = shutil.which("gradserve", path=str(Path(sys.executable).parent))
    if script is None:
        raise RuntimeError(
            "the gradserve console script is not installed next to "
            f"{sys.executable}; run `pip install -e .` first"
        )
    return [script]


class ServerProcess:
    """A service subprocess on a free loopback port; its stderr goes to a temporary file."""

    def __init__(
        self,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        log_level: str = "warning",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = command if command is not None else gradserve_command()
        self.argv = [*base, "serve", "--port", str(self.port), "--log-level", log_level]
        # the ambient GRADSERVE_* variables must not change what a test sees
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GRADSERVE_")}
        self.env.update(env or {})
        # closed by close(): it outlives this call, so no with-block
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the process and wait until ``/healthz`` answers 200."""
        self.proc = subprocess.Popen(
            self.argv,
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=self._stderr,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{' '.join(self.argv)} exited with {self.proc.returncode} before it "
                    f"answered /healthz:\n{self.stderr()}"
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{' '.join(self.argv)} did not answer /healthz in {timeout}s:\n{self.stderr()}"
        )

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode

    def stderr(self, limit: int = 20_000) -> str:
        """What the process wrote so far (its last ``limit`` characters)."""
        self._stderr.flush()
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        return text[-limit:]

    def close(self) -> None:
        self.stop()
        self._stderr.close()


SpawnServer = Callable[..., ServerProcess]
"""The ``spawn_server`` fixture: ``spawn(env=None, command=None)`` -> a started server."""


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and code; returns its body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM_JSON), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status, body
    assert body["code"] == code, body
    for key in ("type", "title", "detail"):
        assert isinstance(body[key], str) and body[key], body
    return body


class Session:
    """A session on a live server: its id, token and calls that carry the token."""

    def __init__(self, http: httpx.Client, created: dict[str, Any]) -> None:
        self.http = http
        self.id: str = created["session_id"]
        self.token: str = created["token"]
        self.created = created

    @classmethod
    def open(cls, http: httpx.Client, **body: Any) -> Session:
        r = http.post("/v1/sessions", json=body)
        assert r.status_code == 201, r.text
        return cls(http, r.json())

    @property
    def path(self) -> str:
        return f"/v1/sessions/{self.id}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method`` on ``/v1/sessions/{id}{path}`` with the bearer token."""
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.http.request(method, self.path + path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """A call that must succeed with ``status``; its JSON body (None for 204)."""
        r = self.request(method, path, **kwargs)
        assert r.status_code == status, (r.status_code, r.text)
        return None if status == 204 else r.json()

    def create(self, **body: Any) -> dict[str, Any]:
        """POST .../tensors; the TensorInfo."""
        info: dict[str, Any] = self.ok("POST", "/tensors", 201, json=body)
        return info

    def graph(self, nodes: list[dict[str, Any]], **body: Any) -> httpx.Response:
        return self.request("POST", "/graph", json={"nodes": nodes, **body})

    def run(self, nodes: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
        """A graph request that must succeed; its ``tensors`` map."""
        r = self.graph(nodes, **body)
        assert r.status_code == 200, r.text
        tensors: dict[str, Any] = r.json()["tensors"]
        return tensors

    def info(self, name: str, include: str = "data,grad") -> dict[str, Any]:
        tensor: dict[str, Any] = self.ok("GET", f"/tensors/{name}", params={"include": include})
        return tensor

    def value(self, name: str) -> Any:
        """The json ``data`` of a tensor's values."""
        return self.ok("GET", f"/tensors/{name}/data")["data"]

    def grad(self, name: str) -> Any:
        """The json ``data`` of a tensor's ``.grad``, or None."""
        body = self.ok("GET", f"/tensors/{name}/grad")
        return None if body is None else body["data"]

    def backward(self, tensor: str, **body: Any) -> httpx.Response:
        return self.request("POST", "/backward", json={"tensor": tensor, **body})

    def delete(self) -> None:
        self.request("DELETE", "")
