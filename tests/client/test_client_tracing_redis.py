"""The client's custom Functions, hooks and retain_grad on a Redis-backed server whose
replica keeps no live copy and no array cache (``GRADSERVE_REDIS_CACHE_BYTES=0``): every
request reads the session back from its records, so each backward replays templates that
were rebuilt from stored data. Same results as torch (test_client_tracing's scenarios)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _kit.redis import RedisServer, redis_binary
from client_testkit import running_server
from test_client_tracing import close, hooks, run_affine

from client import RemoteTorch, connect


@pytest.fixture(scope="module")
def redis_backed() -> Iterator[str]:
    binary = redis_binary()
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    redis_server = RedisServer(binary)
    try:
        env = {"GRADSERVE_STORE": redis_server.fresh_db(), "GRADSERVE_REDIS_CACHE_BYTES": "0"}
        with running_server(env=env) as url:
            yield url
    finally:
        redis_server.stop()


@pytest.fixture
def remote(redis_backed: str) -> Iterator[RemoteTorch]:
    with connect(redis_backed) as t:
        yield t


def test_function_on_redis(remote: RemoteTorch, ref: Any) -> None:
    y, a, b = run_affine(remote)
    ry, ra, rb = run_affine(ref)
    assert y.grad_fn.name() == "AffineBackward"
    close(y, ry)
    close(a.grad, ra.grad)
    close(b.grad, rb.grad)


def hooked(t: Any) -> tuple[Any, ...]:
    """Hooks (one with a captured tensor) and retain_grad registered in one request, each
    backward in a later one (``tolist`` makes the round trip in between)."""
    a = t.tensor([1.0, 2.0, 3.0], requires_grad=True)
    f = t.tensor([10.0, 10.0, 10.0])
    out = a * 2
    h = out.register_hook(lambda g: g * f)
    a.register_hook(lambda g: -g)
    out.retain_grad()
    out.detach().tolist()
    out.sum().backward(retain_graph=True)
    first = (a.grad * 1, out.grad * 1)
    first[0].tolist()
    h.remove()
    out.detach().tolist()
    out.sum().backward()
    return (*first, a.grad, out.grad)


def test_hooks_and_retain_grad_on_redis(remote: RemoteTorch, ref: Any) -> None:
    for got, want in zip(hooked(remote), hooked(ref), strict=True):
        close(got, want)
    for got, want in zip(hooks(remote), hooks(ref), strict=True):
        close(got, want)
