"""``gradserve serve --workers N``: several processes on the Redis store; refused on memory."""

from __future__ import annotations

import subprocess
import threading

import httpx
import numpy as np
from scale_kit import Session, f32, run_gradserve, servers

GRAPH_ROUTE = 'route="/v1/sessions/{session_id}/graph"'


def _graph_requests(text: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("gradserve_requests_total{") and GRAPH_ROUTE in line
    )


def test_two_workers_serve_sessions_from_redis(redis_url: str) -> None:
    with servers((["--workers", "2", "--store", redis_url], {})) as (server,):
        children = subprocess.run(
            ["ps", "-ww", "--ppid", str(server.proc.pid), "-o", "args="],  # -ww: no width cut
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert children.count("multiprocessing.spawn") == 2, children
        # no keep-alive: each call is a new connection, which either worker may accept
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.url, timeout=60, limits=fresh) as http:
            sessions = [Session.open([http], seed=i) for i in range(4)]
            for i, s in enumerate(sessions):
                s.create(name="x", value=[1.0, 2.0, float(i)], requires_grad=True)
            calls = 0
            for _ in range(5):  # rounds of concurrent calls, until both workers took some
                calls += _concurrent_round(server.url, sessions)
                # each worker counts the graph calls it served: a count between 0 and all
                # of them means both workers served some
                seen = {_graph_requests(http.get("/metrics").text) for _ in range(40)}
                if any(0 < n < calls for n in seen):
                    break
            assert any(0 < n < calls for n in seen), (seen, calls)
            for i, s in enumerate(sessions):
                s.run([{"name": "o", "op": "sum", "args": ["x2"]}])
                assert s.backward("o").status_code == 200
                np.testing.assert_array_equal(f32(s.value("x2")), f32([6.0, 12.0, 6.0 * i]))
                assert s.grad("x") == [6.0, 6.0, 6.0]
                s.ok("DELETE", "", 204)


def _concurrent_round(url: str, sessions: list[Session]) -> int:
    """Each session's graph calls from its own thread, a new connection each; their count."""
    errors: list[BaseException] = []

    def work(s: Session) -> None:
        fresh = httpx.Limits(max_keepalive_connections=0)
        try:
            with httpx.Client(base_url=url, timeout=60, limits=fresh) as http:
                mine = Session([http], {"session_id": s.id, "token": s.token})
                for step in range(1, 7):
                    mine.run([{"name": "x2", "op": "mul", "args": ["x", step]}])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return 6 * len(sessions)


def test_workers_on_the_memory_store_are_refused() -> None:
    for extra in ([], ["--store", "memory"]):
        done = run_gradserve("serve", "--workers", "2", *extra)
        assert done.returncode != 0
        assert "--workers" in done.stderr and "memory store" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    done = run_gradserve("serve", "--store", "mysql://nope")
    assert done.returncode != 0 and "redis://" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
