"""Replicas: real ``gradserve serve --store redis://...`` processes sharing one Redis.

One session is used through two processes on different ports, the way a load balancer
would spread a client's calls: alternately through the whole tutorial; with one process
SIGKILLed mid-session (right after a request that bound tensors, and while a long request
holds the session's lease); and by 16 clients at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import redis
from scale_kit import Server, Session, assert_problem, f32, servers
from tutorial_flow import SEED, Tutorial

LEASE_MS = 2000  # short, so a crashed holder's lease runs out quickly


@pytest.fixture(scope="module")
def procs(redis_url: str) -> Iterator[dict[str, Server]]:
    """Two long-lived replicas (a, b) and two to kill (v1, v2), started in parallel."""
    spec = (["--store", redis_url], {"GRADSERVE_REDIS_LEASE_MS": str(LEASE_MS)})
    with servers(spec, spec, spec, spec) as (a, b, v1, v2):
        yield {"a": a, "b": b, "v1": v1, "v2": v2}


@pytest.fixture
def http(procs: dict[str, Server]) -> Iterator[dict[str, httpx.Client]]:
    clients = {k: httpx.Client(base_url=s.url, timeout=60) for k, s in procs.items()}
    yield clients
    for c in clients.values():
        c.close()


def test_one_session_alternating_between_two_processes_through_the_tutorial(
    http: dict[str, httpx.Client],
) -> None:
    a, b = http["a"], http["b"]
    s = Session.open([a], seed=SEED).on([a, b])
    Tutorial(s).run()
    assert len(s.served) > 40
    assert {str(a.base_url), str(b.base_url)} == set(s.served)
    assert all(x != y for x, y in zip(s.served, s.served[1:], strict=False))
    s.ok("DELETE", "", 204)
    assert_problem(s.request("GET"), 404, "session_not_found")
    assert_problem(s.request("GET"), 404, "session_not_found")  # on the other one too


def test_sigkill_right_after_a_binding_request_loses_nothing(
    procs: dict[str, Server], http: dict[str, httpx.Client]
) -> None:
    victim, survivor = http["v1"], http["b"]
    s = Session.open([victim], seed=SEED)
    tut = Tutorial(s)
    tut.run(0, 3)  # steps 1-3 on the victim alone
    # a request whose write-back is large: it must be in Redis before the answer goes out
    big = s.create(name="big", fill="full", fill_value=0.5, shape=[4_000_000])
    assert big["shape"] == [4_000_000]
    procs["v1"].kill()
    s.on([survivor])
    total = s.run([{"name": "tot", "op": "sum", "args": ["big"]}], no_grad=True, include=["data"])[
        "tot"
    ]
    assert total["data"]["data"] == 2_000_000.0
    tut.run(3)  # steps 4-8 and the follow-ups on the survivor, from the state left behind


def test_sigkill_while_a_request_holds_the_lease(
    procs: dict[str, Server], http: dict[str, httpx.Client], redis_url: str
) -> None:
    victim, survivor = http["v2"], http["b"]
    s = Session.open([victim], seed=SEED).on([victim, survivor])
    tut = Tutorial(s)
    tut.run(0, 5)  # steps 1-5, alternating
    s.on([victim])
    s.create(name="big", fill="ones", shape=[500, 1000])
    long_request = [{"name": "junk", "op": "mul", "args": ["big", 1.0]}]
    long_request += [{"name": "junk", "op": "mul", "args": ["junk", 1.0]}] * 4000
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(s.graph(long_request, no_grad=True).status_code)
        except httpx.TransportError as exc:
            outcome.append(exc)

    lock = f"gs:{{{s.id}}}:lock"
    with redis.Redis.from_url(redis_url) as r:
        assert not r.exists(lock)
        thread = threading.Thread(target=call)
        thread.start()
        deadline = time.monotonic() + 20
        while not r.exists(lock):
            assert time.monotonic() < deadline and not outcome, outcome
            time.sleep(0.002)
        procs["v2"].kill()
        thread.join(30)
        assert isinstance(outcome[0], httpx.TransportError), outcome  # it never answered
        assert 0 < r.pttl(lock) <= LEASE_MS  # the dead holder's lease, running out

    s.on([survivor])
    start = time.monotonic()
    assert_problem(s.request("GET", "/tensors/junk"), 404, "tensor_not_found")
    waited = time.monotonic() - start
    assert waited < LEASE_MS / 1000 + 5
    assert s.grad("x") == [[4.5, 4.5], [4.5, 4.5]]
    np.testing.assert_array_equal(f32(s.value("big")), np.ones((500, 1000), np.float32))
    tut.run(5)  # steps 6-8 and the follow-ups, nothing lost


def test_sixteen_clients_on_one_session_across_both_processes(
    procs: dict[str, Server], http: dict[str, httpx.Client]
) -> None:
    a, b = procs["a"], procs["b"]
    s = Session.open([http["a"]])
    s.create(name="x", value=[1.0, -2.0, 0.5], requires_grad=True)
    s.run(
        [
            {"name": "sq", "op": "mul", "args": ["x", "x"]},
            {"name": "out", "op": "sum", "args": ["sq"]},
        ]
    )
    single = np.array([2.0, -4.0, 1.0], np.float32)  # d(sum x^2)/dx
    clients, k = 16, 3
    errors: list[BaseException] = []
    served = {a.url: 0, b.url: 0}
    guard = threading.Lock()
    start = threading.Barrier(clients)

    def client(i: int) -> None:
        try:
            conns = [httpx.Client(base_url=u, timeout=60) for u in (a.url, b.url)]
            start.wait()
            for j in range(k):
                conn = conns[(i + j) % 2]
                r = conn.post(
                    f"/v1/sessions/{s.id}/backward",
                    json={"tensor": "out", "retain_graph": True},
                    headers=s.auth,
                )
                assert r.status_code == 200, r.text
                with guard:
                    served[str(conn.base_url).rstrip("/")] += 1
            for c in conns:
                c.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert served == {a.url: clients * k // 2, b.url: clients * k // 2}
    np.testing.assert_array_equal(f32(s.grad("x")), clients * k * single)
    s.ok("DELETE", "", 204)
