"""Helpers for the scale-out tests: a real redis-server, ``gradserve serve`` processes, sessions.

The processes, the app, the sessions and the problem checks are the shared harness's
(``tests/_kit``); this module adds what only the scale-out tests need.

The in-process helpers (``app_for``, ``ASess``) drive ``create_app`` through httpx's ASGI
transport; the process helpers (``Server``, ``Replicas``) talk to real ``gradserve serve``
processes over loopback, the way a load balancer in front of replicas would.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import numpy as np
import redis
from _kit.app import AppSession, make_settings, serve
from _kit.http import PROBLEM_JSON, Session, assert_problem
from _kit.redis import RedisServer, redis_binary
from _kit.server import REPO_ROOT, ServerProcess, free_port, gradserve_command, run_gradserve

__all__ = [
    "PROBLEM_JSON",
    "REPO_ROOT",
    "ASess",
    "RedisServer",
    "Server",
    "Session",
    "app_for",
    "assert_every_key_expires",
    "assert_problem",
    "f32",
    "free_port",
    "gradserve_command",
    "metric",
    "redis_binary",
    "run_gradserve",
    "servers",
    "session_keys",
]


def f32(data: Any) -> np.ndarray[Any, Any]:
    return np.asarray(data, dtype=np.float32)


# --------------------------------------------------------------------------- redis keys
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
    async with serve(make_settings(store=store, **overrides), timeout=60) as client:
        yield client


class ASess(AppSession):
    """A session on an in-process app; ``info`` includes data and grad unless told."""

    async def info(self, name: str, include: str | None = "data,grad") -> dict[str, Any]:
        return await super().info(name, include)


# --------------------------------------------------------------------------- processes
class Server(ServerProcess):
    """``gradserve serve ARGS`` launched at once on a free port (:meth:`wait_ready` waits for
    ``/readyz``), so several replicas boot in parallel."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__(env=env, args=args, ready_path="/readyz")
        self.launch()

    def wait_ready(self, timeout: float = 60.0) -> Server:
        self.wait_http(timeout=timeout)
        return self


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


def metric(client: httpx.Client, name: str) -> float:
    """One unlabelled sample from the server's /metrics."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")
