"""Helpers for the scale-out tests: a real redis-server, ``gradserve serve`` processes, sessions.

The in-process helpers (``app_for``, ``ASess``) drive ``create_app`` through httpx's ASGI
transport; the process helpers (``Server``, ``Replicas``) talk to real ``gradserve serve``
processes over loopback, the way a load balancer in front of replicas would.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np
import redis

from service.app import create_app
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBLEM_JSON = "application/problem+json"


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def f32(data: Any) -> np.ndarray[Any, Any]:
    return np.asarray(data, dtype=np.float32)


# --------------------------------------------------------------------------- redis-server
class RedisServer:
    """``redis-server`` on a free port in a temporary directory, with no persistence."""

    def __init__(self, binary: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.dir = tempfile.TemporaryDirectory(prefix="gradserve-redis-")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", self.dir.name]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        self._dbs = itertools.cycle(range(1, 16))
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start: {argv}") from None
                time.sleep(0.02)

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(f"{self.url}/{db}")

    def fresh_db(self) -> str:
        """The URL of an emptied database (1..15; 0 is shared by the process tests)."""
        db = next(self._dbs)
        with self.client(db) as r:
            r.flushdb()
        return f"{self.url}/{db}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.dir.cleanup()


def redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


def session_keys(r: redis.Redis, sid: str) -> list[str]:
    """Every key of one session (the store's own naming: ``gs:{sid}:*``)."""
    return sorted(k.decode() for k in r.scan_iter(match=f"gs:{{{sid}}}:*"))


def assert_every_key_expires(r: redis.Redis, sid: str, ttl_ms: int) -> list[str]:
    """The session has keys, and each carries a TTL of at most ``ttl_ms``."""
    keys = session_keys(r, sid)
    assert keys, f"session {sid} has no keys"
    for k in keys:
        pttl = r.pttl(k)
        limit = ttl_ms if not k.endswith(":lock") else max(ttl_ms, 60_000)
        assert 0 < pttl <= limit, (k, pttl)
    return keys


# --------------------------------------------------------------------------- in process
@contextlib.asynccontextmanager
async def app_for(store: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client on a fresh app (lifespan running) over ``store``; ``client.app`` is the app."""
    values: dict[str, Any] = {"store": store, "sweep_interval_seconds": 0.1}
    values["log_level"] = "warning"
    values.update(overrides)
    app = create_app(Settings(**values))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=60
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with this status and code; its body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM_JSON), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert (body["status"], body["code"]) == (status, code), body
    return body


class ASess:
    """A session on an in-process app."""

    def __init__(self, client: httpx.AsyncClient, created: dict[str, Any]) -> None:
        self.client = client
        self.created = created
        self.id: str = created["session_id"]
        self.headers = {"Authorization": f"Bearer {created['token']}"}

    @classmethod
    async def open(cls, client: httpx.AsyncClient, **body: Any) -> ASess:
        r = await client.post("/v1/sessions", json=body or None)
        assert r.status_code == 201, r.text
        return cls(client, r.json())

    async def request(self, method: str, path: str = "", **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return await self.client.request(
            method, f"/v1/sessions/{self.id}{path}", headers=headers, **kw
        )

    async def ok(self, method: str, path: str = "", status: int = 200, **kw: Any) -> Any:
        r = await self.request(method, path, **kw)
        assert r.status_code == status, (r.status_code, r.text)
        return None if status == 204 else r.json()

    async def create(self, **body: Any) -> dict[str, Any]:
        info: dict[str, Any] = await self.ok("POST", "/tensors", 201, json=body)
        return info

    async def graph(self, nodes: list[dict[str, Any]], **body: Any) -> httpx.Response:
        return await self.request("POST", "/graph", json={"nodes": nodes, **body})

    async def run(self, nodes: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
        r = await self.graph(nodes, **body)
        assert r.status_code == 200, r.text
        tensors: dict[str, Any] = r.json()["tensors"]
        return tensors

    async def backward(self, tensor: str, **body: Any) -> httpx.Response:
        return await self.request("POST", "/backward", json={"tensor": tensor, **body})

    async def info(self, name: str, include: str = "data,grad") -> dict[str, Any]:
        info: dict[str, Any] = await self.ok("GET", f"/tensors/{name}", params={"include": include})
        return info

    async def value(self, name: str) -> Any:
        return (await self.ok("GET", f"/tensors/{name}/data"))["data"]

    async def grad(self, name: str) -> Any:
        body = await self.ok("GET", f"/tensors/{name}/grad")
        return None if body is None else body["data"]


# --------------------------------------------------------------------------- processes
def gradserve_command() -> list[str]:
    script = shutil.which("gradserve", path=str(Path(sys.executable).parent))
    if script is None:
        raise RuntimeError(f"no gradserve console script next to {sys.executable}")
    return [script]


class Server:
    """A ``gradserve serve`` subprocess on a free port; its output goes to a temporary file."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [*gradserve_command(), "serve", "--port", str(self.port)]
        self.argv += ["--log-level", "warning", *args]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GRADSERVE_")}
        self.env.update(env or {})
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            self.argv,
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )

    def wait_ready(self, timeout: float = 60.0) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv} exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/readyz", timeout=2.0).status_code == 200:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"{self.argv} not ready in {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crashed replica)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def log(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-20_000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


@contextlib.contextmanager
def servers(*specs: tuple[Sequence[str], dict[str, str]]) -> Iterator[list[Server]]:
    """Start several servers at once (they boot in parallel) and stop them afterwards."""
    started: list[Server] = []
    try:
        for args, env in specs:
            started.append(Server(*args, env=env))
        for s in started:
            s.wait_ready()
        yield started
    finally:
        for s in started:
            s.close()


class Session:
    """One session reached through several replicas: each call goes to the next one in turn."""

    def __init__(self, clients: Sequence[httpx.Client], created: dict[str, Any]) -> None:
        self.clients = list(clients)
        self._turn = itertools.cycle(range(len(self.clients)))
        self.id: str = created["session_id"]
        self.token: str = created["token"]
        self.auth = {"Authorization": f"Bearer {self.token}"}
        self.served: list[str] = []  # base URL of each call, in order

    @classmethod
    def open(cls, clients: Sequence[httpx.Client], **body: Any) -> Session:
        r = clients[0].post("/v1/sessions", json=body)
        assert r.status_code == 201, r.text
        return cls(clients, r.json())

    def on(self, clients: Sequence[httpx.Client]) -> Session:
        """The same session, reached through other replicas from now on."""
        self.clients = list(clients)
        self._turn = itertools.cycle(range(len(self.clients)))
        return self

    def request(self, method: str, path: str = "", **kw: Any) -> httpx.Response:
        client = self.clients[next(self._turn)]
        self.served.append(str(client.base_url))
        headers = {**self.auth, **kw.pop("headers", {})}
        return client.request(method, f"/v1/sessions/{self.id}{path}", headers=headers, **kw)

    def ok(self, method: str, path: str = "", status: int = 200, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == status, (r.status_code, r.text)
        return None if status == 204 else r.json()

    def create(self, **body: Any) -> dict[str, Any]:
        info: dict[str, Any] = self.ok("POST", "/tensors", 201, json=body)
        return info

    def graph(self, nodes: list[dict[str, Any]], **body: Any) -> httpx.Response:
        return self.request("POST", "/graph", json={"nodes": nodes, **body})

    def run(self, nodes: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
        r = self.graph(nodes, **body)
        assert r.status_code == 200, r.text
        tensors: dict[str, Any] = r.json()["tensors"]
        return tensors

    def backward(self, tensor: str, **body: Any) -> httpx.Response:
        return self.request("POST", "/backward", json={"tensor": tensor, **body})

    def info(self, name: str, include: str = "data,grad") -> dict[str, Any]:
        info: dict[str, Any] = self.ok("GET", f"/tensors/{name}", params={"include": include})
        return info

    def value(self, name: str) -> Any:
        return self.ok("GET", f"/tensors/{name}/data")["data"]

    def grad(self, name: str) -> Any:
        body = self.ok("GET", f"/tensors/{name}/grad")
        return None if body is None else body["data"]


def metric(client: httpx.Client, name: str) -> float:
    """One unlabelled sample from the server's /metrics."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")
