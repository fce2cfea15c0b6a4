"""A Redis outage over real HTTP: a live ``gradserve serve`` on a real ``redis-server`` that
the test kills and restarts. While Redis is down every call answers 503 store_unavailable
with Retry-After on a connection that stays open; once it is back, calls succeed within a
couple of seconds, a lease saved in the append-only file while a request held it does not
stall the session, and nothing acknowledged is lost. Timing: a wrong token on an existing
session and an unknown session id cost Redis the same commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any

import httpx
import pytest
import redis
from e2e_http import ServerProcess, SpawnServer, assert_problem, free_port

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="needs redis-server on PATH")


class Redis:
    """redis-server with an append-only file fsynced on every write, killable and restartable
    on the same port and directory (so what it saved survives, leases included)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.TemporaryDirectory(prefix="gradserve-outage-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS is not None
        argv = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir.name]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port) as r:
                    if r.ping():
                        return
            except redis.exceptions.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        self.dir.cleanup()


@pytest.fixture
def store() -> Iterator[Redis]:
    r = Redis()
    r.start()
    yield r
    r.close()


def _open(http: httpx.Client) -> tuple[str, dict[str, str]]:
    r = http.post("/v1/sessions")
    assert r.status_code == 201, r.text
    body = r.json()
    return body["session_id"], {"Authorization": f"Bearer {body['token']}"}


def _raw(conn: HTTPConnection, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    """A request on one kept-alive connection: it raises if the server closed it."""
    conn.request(method, path, **kw)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 400:
        assert resp.headers["Content-Type"] == "application/problem+json"
    return resp.status, (json.loads(data) if data else None), resp.headers  # type: ignore[return-value]


def test_redis_down_is_503_and_back_within_seconds(spawn_server: SpawnServer, store: Redis) -> None:
    server: ServerProcess = spawn_server({"GRADSERVE_STORE": store.url})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        sid, auth = _open(http)
        r = http.post(
            f"/v1/sessions/{sid}/tensors", json={"name": "w", "value": [1.0]}, headers=auth
        )
        assert r.status_code == 201
        store.kill()
        conn = HTTPConnection("127.0.0.1", server.port, timeout=30)
        calls = [
            (
                "POST",
                "/v1/sessions",
                {"body": "{}", "headers": {"Content-Type": "application/json"}},
            ),
            ("GET", f"/v1/sessions/{sid}/tensors", {"headers": auth}),
            (
                "POST",
                f"/v1/sessions/{sid}/tensors",
                {
                    "body": '{"value": [2.0]}',
                    "headers": {**auth, "Content-Type": "application/json"},
                },
            ),
            ("GET", f"/v1/sessions/{sid}", {"headers": auth}),
            ("DELETE", f"/v1/sessions/{sid}/tensors/w", {"headers": auth}),
        ]
        for method, path, kw in calls:
            start = time.monotonic()
            status, body, headers = _raw(conn, method, path, **kw)  # type: ignore[misc]
            assert status == 503 and body["code"] == "store_unavailable", (path, body)
            assert int(headers["Retry-After"]) >= 1
            assert headers.get("Connection", "").lower() != "close"
            assert time.monotonic() - start < 2  # no retry storm while Redis is down
        assert http.get("/readyz").status_code == 503
        store.start()
        start = time.monotonic()
        while True:  # every call works again within a couple of seconds
            status, body, _ = _raw(conn, "GET", f"/v1/sessions/{sid}/tensors", headers=auth)
            if status == 200:
                break
            assert status == 503 and body["code"] == "store_unavailable", body
            assert time.monotonic() - start < 3
            time.sleep(0.1)
        assert time.monotonic() - start < 3
        assert [t["name"] for t in body["tensors"]] == ["w"]  # the acknowledged write survived
        # the pooled connections from before the restart give no errors now
        for _ in range(20):
            status, _, _ = _raw(conn, "GET", f"/v1/sessions/{sid}/tensors", headers=auth)
            assert status == 200
        assert _open(http)
        conn.close()


def test_a_lease_saved_while_redis_died_does_not_stall_the_session(
    spawn_server: SpawnServer, store: Redis
) -> None:
    """Redis dies while a request holds the session's lease; the append-only file keeps the
    lease. After the restart the next request takes it over at once (its holder is this
    process and no request of it holds it) instead of waiting for it to run out."""
    server = spawn_server({"GRADSERVE_STORE": store.url, "GRADSERVE_REDIS_LEASE_MS": "30000"})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        sid, auth = _open(http)
        r = http.post(
            f"/v1/sessions/{sid}/tensors",
            json={"name": "m", "fill": "randn", "shape": [256, 256]},
            headers=auth,
        )
        assert r.status_code == 201
        nodes = [{"name": "p", "op": "matmul", "args": ["m", "m"]}] * 300
        outcome: list[httpx.Response] = []
        thread = threading.Thread(
            target=lambda: outcome.append(
                http.post(f"/v1/sessions/{sid}/graph", json={"nodes": nodes}, headers=auth)
            )
        )
        lock = f"gs:{{{sid}}}:lock"
        with redis.Redis(port=store.port) as r:
            thread.start()
            deadline = time.monotonic() + 20
            while not r.exists(lock):
                assert time.monotonic() < deadline
                time.sleep(0.005)
        store.kill()
        thread.join(60)
        assert_problem(outcome[0], 503, "store_unavailable")
        store.start()
        with redis.Redis(port=store.port) as r:
            assert r.pttl(lock) > 5000  # the lease came back from the append-only file
        start = time.monotonic()
        r2 = http.get(f"/v1/sessions/{sid}/tensors", headers=auth)
        waited = time.monotonic() - start
        assert r2.status_code == 200, r2.text
        assert [t["name"] for t in r2.json()["tensors"]] == ["m"]  # nothing half-applied
        assert waited < 2, waited


def test_a_wrong_token_and_an_unknown_id_cost_redis_the_same(
    spawn_server: SpawnServer, store: Redis
) -> None:
    server = spawn_server({"GRADSERVE_STORE": store.url})
    with httpx.Client(base_url=server.url, timeout=30) as http, redis.Redis(port=store.port) as r:
        sid, _ = _open(http)
        wrong = {"Authorization": "Bearer " + "x" * 43}
        unknown = "A" * len(sid)

        def commands(path: str) -> dict[str, int]:
            r.config_resetstat()
            for _ in range(50):
                assert_problem(http.get(path, headers=wrong), 404, "session_not_found")
            stats = r.info("commandstats")
            return {k: v["calls"] for k, v in stats.items() if k != "cmdstat_config"}

        existing = f"/v1/sessions/{sid}/tensors"
        missing = f"/v1/sessions/{unknown}/tensors"
        # the same Redis commands, as many: wall-clock time cannot resolve the 0.1-0.2 ms
        # this was on a shared machine, the work done can
        assert commands(existing) == commands(missing)
