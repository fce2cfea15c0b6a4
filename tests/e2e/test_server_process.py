"""The server as a process: graceful SIGTERM, ``python -m service``, and refused configurations."""

from __future__ import annotations

import sys
import threading
import time

import httpx
from e2e_http import Session, SpawnServer, free_port, run_gradserve


def _matmul_graph(n: int) -> dict[str, object]:
    return {"nodes": [{"op": "matmul", "args": ["a", "a"]} for _ in range(n)], "return": []}


def test_sigterm_lets_the_request_in_flight_finish(spawn_server: SpawnServer) -> None:
    server = spawn_server()
    http = httpx.Client(base_url=server.url, timeout=60.0)
    sess = Session.open(http)
    sess.create(name="a", fill="randn", shape=[600, 600])

    # size the request to take about three seconds on this machine
    start = time.monotonic()
    assert sess.request("POST", "/graph", json=_matmul_graph(4)).status_code == 200
    per_node = max((time.monotonic() - start) / 4, 1e-4)
    nodes = int(min(max(3.0 / per_node, 8), 5000))

    result: dict[str, object] = {}

    def call() -> None:
        try:
            r = sess.request("POST", "/graph", json=_matmul_graph(nodes))
            result["response"] = r
        except Exception as exc:  # reported by the assertions below
            result["error"] = exc
        result["done"] = time.monotonic()

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.5)
    assert "done" not in result, "the request finished before the signal; size it up"
    signalled = time.monotonic()
    server.signal()
    # the listener closes at once: new connections are refused while the request runs on
    assert _refused_within(server.url, 2.0)
    worker.join(60)
    assert not worker.is_alive()
    assert "error" not in result, result.get("error")
    r = result["response"]
    assert isinstance(r, httpx.Response)
    assert r.status_code == 200, r.text
    assert r.json() == {"tensors": {}}
    done = result["done"]
    assert isinstance(done, float) and done > signalled  # it was in flight at the signal
    assert server.wait(timeout=10) == 0, server.stderr()
    assert time.monotonic() - done < 5.0  # and the process left soon after
    assert "Traceback" not in server.stderr()
    http.close()


def _refused_within(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/healthz", timeout=2.0, headers={"Connection": "close"})
        except httpx.ConnectError:
            return True
        except httpx.TimeoutException:
            pass
        time.sleep(0.05)
    return False


def test_sigterm_on_an_idle_server_exits_zero(spawn_server: SpawnServer) -> None:
    server = spawn_server()
    signalled = time.monotonic()
    server.signal()
    assert server.wait(timeout=10) == 0, server.stderr()
    assert time.monotonic() - signalled < 5


def test_python_dash_m_service_serves(spawn_server: SpawnServer) -> None:
    server = spawn_server(command=[sys.executable, "-m", "service"])
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz").status_code == 200
    assert httpx.get(server.url + "/v1/ops").status_code == 200
    assert server.stop() == 0, server.stderr()


def test_several_workers_with_the_memory_store_are_refused() -> None:
    port = free_port()
    done = run_gradserve("serve", "--workers", "2", "--port", str(port))
    assert done.returncode != 0
    message = done.stderr.lower()
    assert "--workers" in message and "store" in message, done.stderr
    assert "Traceback" not in done.stderr
    # and nothing was left listening
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("a server answered on the refused port")


def test_cli_rejects_bad_arguments() -> None:
    done = run_gradserve("serve", "--log-level", "loud")
    assert done.returncode == 2 and "--log-level" in done.stderr
    done = run_gradserve("frobnicate")
    assert done.returncode == 2
