"""Hostile load over real HTTP against a live ``gradserve serve``: one request's memory is
bounded as each op allocates (session quota, request budget, server budget, tensor count),
its time by a deadline, and a client that goes away stops its work; ``/healthz`` keeps
answering within 100 ms throughout, and the server's peak RSS stays under what the test's
settings allow."""

from __future__ import annotations

import io
import json
import socket
import threading
import time

import httpx
import numpy as np
import pytest
from e2e_http import ServerProcess, SpawnServer, assert_problem
from test_json_body_memory_http import _HealthProbe, _peak_rss, _session

MiB = 1 << 20
N = 2048  # a 2048x2048 float64 tensor: 32 MiB
TENSOR = N * N * 8


def _rss(server: ServerProcess) -> int:
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _reset_peak(server: ServerProcess) -> None:
    """Start VmHWM afresh from the current RSS (Linux: write 5 to clear_refs)."""
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/clear_refs", "w") as f:
        f.write("5")


def _big(http: httpx.Client, sid: str, auth: dict[str, str], name: str = "x") -> None:
    r = http.post(
        f"/v1/sessions/{sid}/tensors",
        json={"name": name, "fill": "zeros", "shape": [N, N], "dtype": "float64"},
        headers=auth,
    )
    assert r.status_code == 201, r.text


def _names(http: httpx.Client, sid: str, auth: dict[str, str]) -> set[str]:
    r = http.get(f"/v1/sessions/{sid}/tensors", headers=auth)
    assert r.status_code == 200, r.text
    return {t["name"] for t in r.json()["tensors"]}


def _adds(n: int) -> list[dict[str, object]]:
    """The probe: n nodes each adding 0 to x, every result named (all held alive)."""
    return [{"name": f"y{i}", "op": "add", "args": ["x", 0]} for i in range(n)]


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        ({"GRADSERVE_MAX_REQUEST_BYTES": str(6 * TENSOR)}, "request_budget_exceeded"),
        ({"GRADSERVE_MAX_SESSION_BYTES": str(6 * TENSOR)}, "session_quota_exceeded"),
    ],
)
def test_a_graph_request_is_refused_as_it_allocates_not_after(
    spawn_server: SpawnServer, limits: dict[str, str], code: str
) -> None:
    """40 nodes of 32 MiB each (1.25 GiB if all ran): refused at the node that would cross
    the limit, with the server's peak RSS within the limit plus a tensor or two."""
    server = spawn_server({"GRADSERVE_MAX_NODES_PER_REQUEST": "100", **limits})
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sid, auth = _session(http)
        _big(http, sid, auth)
        rss_before = _rss(server)
        _reset_peak(server)
        probe = _HealthProbe(server.url)
        try:
            r = http.post(f"/v1/sessions/{sid}/graph", json={"nodes": _adds(40)}, headers=auth)
        finally:
            slowest = probe.stop()
        body = assert_problem(r, 507, code)
        assert 3 <= body["node"] <= 6, body  # refused on the way, not after 40 nodes
        growth = _peak_rss(server) - rss_before
        assert growth < 6 * TENSOR + 2 * TENSOR + 64 * MiB, growth / MiB
        assert slowest < 0.1, slowest
        # nothing was bound, and the memory went back
        assert _names(http, sid, auth) == {"x"}
        assert _rss(server) - rss_before < 2 * TENSOR


def test_intermediates_a_request_frees_are_dropped_as_it_runs(spawn_server: SpawnServer) -> None:
    """A 40-node chain whose intermediates the request frees fits a budget of 4 tensors: each
    one goes back after its last use, not at the end."""
    server = spawn_server({"GRADSERVE_MAX_REQUEST_BYTES": str(4 * TENSOR)})
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sid, auth = _session(http)
        _big(http, sid, auth)
        rss_before = _rss(server)
        _reset_peak(server)
        nodes = [{"name": "y0", "op": "add", "args": ["x", 1]}]
        nodes += [{"name": f"y{i}", "op": "add", "args": [f"y{i - 1}", 1]} for i in range(1, 40)]
        probe = _HealthProbe(server.url)
        r = http.post(
            f"/v1/sessions/{sid}/graph",
            json={
                "nodes": nodes,
                "return": ["y39"],
                "free": [f"y{i}" for i in range(39)],
                "no_grad": True,
            },
            headers=auth,
        )
        assert probe.stop() < 0.1, probe.slowest
        assert r.status_code == 200, r.text
        assert _peak_rss(server) - rss_before < 4 * TENSOR + 64 * MiB
        assert _names(http, sid, auth) == {"x", "y39"}
        r = http.post(
            f"/v1/sessions/{sid}/graph",
            json={
                "nodes": [{"name": "s", "op": "mean", "args": ["y39"]}],
                "include": ["data"],
                "free": ["s"],
            },
            headers=auth,
        )
        assert r.json()["tensors"]["s"]["data"]["data"] == 40.0, r.text


def test_the_server_budget_refuses_new_work_with_503(spawn_server: SpawnServer) -> None:
    """Two sessions share a server budget of 3 tensors: what would cross it is 503
    server_memory_exhausted with Retry-After; freeing makes room again."""
    server = spawn_server({"GRADSERVE_MAX_SERVER_BYTES": str(3 * TENSOR + 8 * MiB)})
    with httpx.Client(base_url=server.url, timeout=60) as http:
        a, auth_a = _session(http)
        b, auth_b = _session(http)
        _big(http, a, auth_a, "x")
        _big(http, a, auth_a, "w")
        _big(http, b, auth_b, "x")  # 3 tensors: at the budget
        r = http.post(f"/v1/sessions/{b}/graph", json={"nodes": _adds(2)}, headers=auth_b)
        body = assert_problem(r, 503, "server_memory_exhausted")
        assert int(r.headers["Retry-After"]) > 0 and body["node"] == 0
        r = http.post(
            f"/v1/sessions/{b}/tensors",
            json={"name": "z", "fill": "zeros", "shape": [N, N]},
            headers=auth_b,
        )
        assert_problem(r, 503, "server_memory_exhausted")
        assert _names(http, b, auth_b) == {"x"}
        assert http.delete(f"/v1/sessions/{a}/tensors/w", headers=auth_a).status_code == 204
        r = http.post(f"/v1/sessions/{b}/graph", json={"nodes": _adds(1)}, headers=auth_b)
        assert r.status_code == 200, r.text


def test_tensor_count_and_per_tensor_overhead_are_bounded(spawn_server: SpawnServer) -> None:
    """Empty tensors cost memory too: a session binds at most its tensor limit (507
    too_many_tensors), and a request's budget charges each tensor and node's overhead."""
    server = spawn_server(
        {
            "GRADSERVE_MAX_TENSORS_PER_SESSION": "100",
            "GRADSERVE_MAX_REQUEST_BYTES": str(1 * MiB),
        }
    )
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sid, auth = _session(http)
        r = http.post(f"/v1/sessions/{sid}/tensors", json={"name": "e", "value": []}, headers=auth)
        assert r.status_code == 201, r.text
        named = [{"name": f"z{i}", "op": "mul", "args": ["e", 2]} for i in range(150)]
        assert_problem(
            http.post(f"/v1/sessions/{sid}/graph", json={"nodes": named}, headers=auth),
            507,
            "too_many_tensors",
        )
        for i in range(99):
            r = http.post(
                f"/v1/sessions/{sid}/tensors", json={"name": f"t{i}", "value": []}, headers=auth
            )
            assert r.status_code == 201, r.text
        r = http.post(
            f"/v1/sessions/{sid}/tensors", json={"name": "one", "value": []}, headers=auth
        )
        assert_problem(r, 507, "too_many_tensors")
        # 3,000 empty results, each named (never more than 100 bound: each rebinds one name):
        # no array bytes at all, yet ~3 MiB of objects against a 1 MiB budget
        nodes = [{"name": "u", "op": "mul", "args": ["e", 2]} for _ in range(3000)]
        r = http.post(
            f"/v1/sessions/{sid}/graph", json={"nodes": nodes, "free": ["u"]}, headers=auth
        )
        assert r.status_code == 200, r.text  # rebinding frees each one: the budget holds
        # 3,000 results kept alive by one graph (each node links the one before)
        http.delete(f"/v1/sessions/{sid}/tensors/t0", headers=auth)
        r = http.post(
            f"/v1/sessions/{sid}/tensors",
            json={"name": "g", "value": [], "requires_grad": True},
            headers=auth,
        )
        assert r.status_code == 201, r.text
        chain = [{"name": "z", "op": "mul", "args": ["g", 2]}]
        chain += [{"name": "z", "op": "mul", "args": ["z", 2]} for _ in range(2999)]
        r = http.post(f"/v1/sessions/{sid}/graph", json={"nodes": chain}, headers=auth)
        assert_problem(r, 507, "request_budget_exceeded")


def test_a_request_past_its_deadline_is_504_and_changes_nothing(spawn_server: SpawnServer) -> None:
    server = spawn_server({"GRADSERVE_MAX_REQUEST_SECONDS": "0.5"})
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sid, auth = _session(http)
        r = http.post(
            f"/v1/sessions/{sid}/tensors",
            json={"name": "m", "fill": "randn", "shape": [512, 512], "requires_grad": True},
            headers=auth,
        )
        assert r.status_code == 201
        # an in-place change first: the rollback must undo it
        nodes: list[dict[str, object]] = [{"op": "add_", "args": ["w", 1]}]
        nodes += [{"name": f"p{i}", "op": "matmul", "args": ["m", "m"]} for i in range(400)]
        assert http.post(
            f"/v1/sessions/{sid}/tensors", json={"name": "w", "value": [1.0]}, headers=auth
        ).is_success
        start = time.monotonic()
        r = http.post(f"/v1/sessions/{sid}/graph", json={"nodes": nodes}, headers=auth)
        took = time.monotonic() - start
        assert_problem(r, 504, "deadline_exceeded")
        assert took < 3, took
        assert _names(http, sid, auth) == {"m", "w"}
        w = http.get(f"/v1/sessions/{sid}/tensors/w/data", headers=auth).json()
        assert w["data"] == [1.0]


def test_work_stops_when_the_client_goes_away(spawn_server: SpawnServer) -> None:
    """A client drops a long request after 0.5 s: the server stops between nodes and rolls
    back, so the session's lock is free again at once (not after the whole graph ran)."""
    server = spawn_server()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sid, auth = _session(http)
        r = http.post(
            f"/v1/sessions/{sid}/tensors",
            json={"name": "m", "fill": "randn", "shape": [512, 512]},
            headers=auth,
        )
        assert r.status_code == 201
        nodes = [{"name": f"p{i}", "op": "matmul", "args": ["m", "m"]} for i in range(3000)]
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{server.url}/v1/sessions/{sid}/graph",
                json={"nodes": nodes},
                headers=auth,
                timeout=httpx.Timeout(10, read=0.5),
            )
        start = time.monotonic()
        r = http.get(f"/v1/sessions/{sid}/tensors", headers=auth)
        waited = time.monotonic() - start
        assert r.status_code == 200
        assert {t["name"] for t in r.json()["tensors"]} == {"m"}
        assert waited < 1.5, waited


def _stalled(url: str, head: str, part: bytes) -> socket.socket:
    """A connection that sends the headers and part of the body, then stalls."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(head.encode() + part)
    return sock


def _answer(sock: socket.socket, timeout: float) -> tuple[int, dict[str, object]]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_stalled_npy_upload_never_holds_the_session(spawn_server: SpawnServer) -> None:
    """The body is read before the session is taken, within the body-read timeout: the
    session keeps answering while an upload stalls, and the upload gets 408 body_timeout."""
    server = spawn_server({"GRADSERVE_BODY_READ_TIMEOUT_SECONDS": "1"})
    with httpx.Client(base_url=server.url, timeout=10) as http:
        sid, auth = _session(http)
        buf = io.BytesIO()
        np.save(buf, np.zeros(1000))
        npy = buf.getvalue()
        head = (
            f"PUT /v1/sessions/{sid}/tensors/up HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {auth['Authorization']}\r\nContent-Type: application/x-npy\r\n"
            f"Content-Length: {len(npy)}\r\n\r\n"
        )
        sock = _stalled(server.url, head, npy[:100])
        probe = _HealthProbe(server.url)
        try:
            time.sleep(0.2)
            start = time.monotonic()
            r = http.post(
                f"/v1/sessions/{sid}/tensors", json={"name": "a", "value": [1.0]}, headers=auth
            )
            assert r.status_code == 201 and time.monotonic() - start < 0.5
            status, problem = _answer(sock, 5)
        finally:
            sock.close()
            slowest = probe.stop()
        assert status == 408 and problem["code"] == "body_timeout", problem
        assert slowest < 0.1, slowest
        assert _names(http, sid, auth) == {"a"}
        # a JSON body that stalls is refused the same way
        head = (
            f"POST /v1/sessions/{sid}/graph HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {auth['Authorization']}\r\nContent-Type: application/json\r\n"
            "Content-Length: 500\r\n\r\n"
        )
        sock = _stalled(server.url, head, b'{"nodes": [')
        try:
            status, problem = _answer(sock, 5)
        finally:
            sock.close()
        assert status == 408 and problem["code"] == "body_timeout", problem
        # and a whole upload still works
        r = http.put(
            f"/v1/sessions/{sid}/tensors/up",
            content=npy,
            headers={**auth, "Content-Type": "application/x-npy"},
        )
        assert r.status_code == 201, r.text


def test_a_write_queued_behind_a_delete_is_404_not_201(spawn_server: SpawnServer) -> None:
    """Memory store: a POST /tensors that waited for the session while a DELETE of it was
    ahead in the queue re-checks the session after taking it, and answers 404."""
    server = spawn_server()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sid, auth = _session(http)
        r = http.post(
            f"/v1/sessions/{sid}/tensors",
            json={"name": "m", "fill": "randn", "shape": [512, 512]},
            headers=auth,
        )
        assert r.status_code == 201
        busy = [{"name": "p", "op": "matmul", "args": ["m", "m"]}] * 150
        out: dict[str, httpx.Response] = {}

        def call(key: str, method: str, path: str, **kw: object) -> threading.Thread:
            def run() -> None:
                with httpx.Client(base_url=server.url, timeout=60) as c:
                    out[key] = c.request(method, path, headers=auth, **kw)  # type: ignore[arg-type]

            t = threading.Thread(target=run)
            t.start()
            return t

        threads = [call("graph", "POST", f"/v1/sessions/{sid}/graph", json={"nodes": busy})]
        time.sleep(0.3)
        threads.append(call("delete", "DELETE", f"/v1/sessions/{sid}"))
        time.sleep(0.3)
        threads.append(
            call("post", "POST", f"/v1/sessions/{sid}/tensors", json={"name": "a", "value": [1]})
        )
        for t in threads:
            t.join(60)
        assert out["graph"].status_code == 200, out["graph"].text
        assert out["delete"].status_code == 204
        assert_problem(out["post"], 404, "session_not_found")
        assert_problem(http.get(f"/v1/sessions/{sid}", headers=auth), 404, "session_not_found")


def test_stateless_grad_is_bounded_by_the_request_budget(spawn_server: SpawnServer) -> None:
    """/v1/grad has no session: the request budget is all it may hold, checked per op."""
    server = spawn_server({"GRADSERVE_MAX_REQUEST_BYTES": str(4 * TENSOR)})
    with httpx.Client(base_url=server.url, timeout=60) as http:
        rss_before = _rss(server)
        _reset_peak(server)
        col = [[1.0]] * N
        nodes = [{"name": f"y{i}", "op": "matmul", "args": ["u", "v"]} for i in range(20)]
        nodes.append({"name": "out", "op": "sum", "args": ["y19"]})
        body = {
            "inputs": {
                "u": {"value": {"data": col, "dtype": "float64"}, "requires_grad": True},
                "v": {"value": {"data": [[1.0] * N], "dtype": "float64"}},
            },
            "nodes": nodes,
            "output": "out",
            "wrt": ["u"],
        }
        probe = _HealthProbe(server.url)
        try:
            r = http.post("/v1/grad", json=body)
        finally:
            slowest = probe.stop()
        assert_problem(r, 507, "request_budget_exceeded")
        assert slowest < 0.1, slowest
        assert _peak_rss(server) - rss_before < 4 * TENSOR + 2 * TENSOR + 64 * MiB


def test_a_backward_past_its_deadline_leaves_grads_as_they_were(
    spawn_server: SpawnServer,
) -> None:
    server = spawn_server({"GRADSERVE_MAX_REQUEST_SECONDS": "0.5"})
    with httpx.Client(base_url=server.url, timeout=60) as http:
        sid, auth = _session(http)
        r = http.post(
            f"/v1/sessions/{sid}/tensors",
            # 512: backward through 200 matmuls takes seconds however fast the engine is
            # (at 256 a raw-array backward finished within the deadline)
            json={"name": "m", "fill": "rand", "shape": [512, 512], "requires_grad": True},
            headers=auth,
        )
        assert r.status_code == 201
        assert http.post(
            f"/v1/sessions/{sid}/graph",
            json={"nodes": [{"name": "p", "op": "mul", "args": ["m", 1e-3]}]},
            headers=auth,
        ).is_success
        built = 0
        while built < 200:  # a chain of 200 matmuls, built 2 at a time within the deadline
            chain = [{"name": "p", "op": "matmul", "args": ["p", "m"]}] * 2
            r = http.post(f"/v1/sessions/{sid}/graph", json={"nodes": chain}, headers=auth)
            if r.status_code == 504:  # a loaded machine: nothing was applied, send it again
                continue
            assert r.status_code == 200, r.text
            built += 2
        r = http.post(
            f"/v1/sessions/{sid}/graph",
            json={"nodes": [{"name": "out", "op": "sum", "args": ["p"]}]},
            headers=auth,
        )
        assert r.status_code == 200
        start = time.monotonic()
        r = http.post(f"/v1/sessions/{sid}/backward", json={"tensor": "out"}, headers=auth)
        assert_problem(r, 504, "deadline_exceeded")
        assert time.monotonic() - start < 3
        g = http.get(f"/v1/sessions/{sid}/tensors/m/grad", headers=auth)
        assert g.status_code == 200 and g.json() is None, g.text
