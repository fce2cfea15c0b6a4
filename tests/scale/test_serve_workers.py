"""``gradserve serve --workers N``: several processes on the Redis store; refused on memory."""

from __future__ import annotations

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def _worker_requests(text: str) -> dict[str, float]:
    """``gradserve_worker_requests{pid="..."}``: requests each worker process served."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("gradserve_worker_requests{"):
            pid = line.split('pid="', 1)[1].split('"', 1)[0]
            out[pid] = float(line.split()[-1])
    return out


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
                # /metrics adds up both workers (every scrape sees all the graph calls);
                # the per-worker gauge shows both workers served some
                scrapes = [http.get("/metrics").text for _ in range(10)]
                assert {_graph_requests(t) for t in scrapes} == {calls}
                per_worker = _worker_requests(scrapes[-1])
                if len(per_worker) == 2 and all(n > 0 for n in per_worker.values()):
                    break
            assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values()), per_worker
            for i, s in enumerate(sessions):
                s.run([{"name": "o", "op": "sum", "args": ["x2"]}])
                assert s.backward("o").status_code == 200
                np.testing.assert_array_equal(f32(s.value("x2")), f32([6.0, 12.0, 6.0 * i]))
                assert s.grad("x") == [6.0, 6.0, 6.0]
                s.ok("DELETE", "", 204)


def test_metrics_of_two_workers_add_up(redis_url: str, tmp_path: Path) -> None:
    """Successive scrapes (answered by either worker) agree on the request counts; the CLI
    clears a given multiprocess directory of an earlier run's files."""
    stale = tmp_path / "counter_999999.db"
    stale.write_bytes(b"not a metrics file")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with servers((["--workers", "2", "--store", redis_url], env)) as (server,):
        assert not stale.exists()
        fresh = httpx.Limits(max_keepalive_connections=0)  # either worker may take each call
        with httpx.Client(base_url=server.url, timeout=60, limits=fresh) as http:
            # a loaded machine boots workers slowly: wait until both wrote their files
            deadline = time.monotonic() + 120
            while len(_pids_with_files(tmp_path)) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(_pids_with_files(tmp_path)) == 2, list(tmp_path.iterdir())
            sent = 0
            for _ in range(3):
                # concurrent calls, so that both workers may take some
                with ThreadPoolExecutor(8) as pool:
                    codes = list(pool.map(lambda _: _healthz(server.url), range(32)))
                assert codes == [200] * 32
                sent += 32
                texts = [http.get("/metrics").text for _ in range(12)]
                # every scrape, whichever worker answers it, counts all the calls
                counts = {_healthz_requests(t) for t in texts}
                assert counts == {float(sent)}, (counts, sent)
                assert set(_worker_requests(texts[-1])) == _pids_with_files(tmp_path)


def _pids_with_files(path: Path) -> set[str]:
    return {p.stem.rsplit("_", 1)[1] for p in path.glob("gauge_liveall_*.db")}


def _healthz(url: str) -> int:
    return httpx.get(url + "/healthz", timeout=60).status_code


def _healthz_requests(text: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("gradserve_requests_total{") and 'route="/healthz"' in line
    )


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
