"""Concurrency: requests on one session serialize; different sessions run in parallel."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from service_testkit import TUTORIAL_NODES, Sess, open_session

pytestmark = pytest.mark.anyio


async def test_parallel_backward_on_one_session_accumulates_exactly(sess: Sess) -> None:
    await sess.tensor("x", value=[[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]], requires_grad=True)
    await sess.run(
        [
            {"name": "t", "op": "tanh", "args": ["x"]},
            {"name": "e", "op": "exp", "args": ["t"]},
            {"name": "p", "op": "mul", "args": ["e", "x"]},
            {"name": "out", "op": "sum", "args": ["p"]},
        ]
    )
    r = await sess.post("/grad", {"outputs": ["out"], "inputs": ["x"], "retain_graph": True})
    single = np.array(r.json()["grads"]["x"]["data"], dtype=np.float32)

    async def one() -> int:
        r = await sess.backward("out", retain_graph=True)
        return r.status_code

    codes = await asyncio.gather(*(one() for _ in range(200)))
    assert codes == [200] * 200
    total = np.array(await sess.grad("x"), dtype=np.float32)
    expected = np.zeros_like(single)
    for _ in range(200):  # float32 accumulation, in the same order the server sums
        expected = expected + single
    np.testing.assert_allclose(total, expected, rtol=1e-6)
    np.testing.assert_allclose(total, 200 * single, rtol=1e-4)


async def test_parallel_inplace_updates_are_not_lost(sess: Sess) -> None:
    await sess.tensor("counter", value=[0.0, 0.0])

    async def bump(i: int) -> int:
        r = await sess.graph(
            [
                {"name": f"tmp{i}", "op": "add", "args": ["counter", 1]},
                {"op": "add_", "args": ["counter", 1]},
            ],
            free=[f"tmp{i}"],
        )
        return r.status_code

    codes = await asyncio.gather(*(bump(i) for i in range(100)))
    assert codes == [200] * 100
    info = await sess.info("counter", include="data")
    assert info["data"]["data"] == [100.0, 100.0]
    assert info["version"] == 100
    names = {t["name"] for t in (await sess.get("/tensors")).json()["tensors"]}
    assert names == {"counter"}


async def test_many_sessions_in_parallel_run_the_tutorial(client: httpx.AsyncClient) -> None:
    async def tutorial(i: int) -> tuple[Sess, list[list[float]]]:
        s = await open_session(client, seed=i)
        # each session's x differs, so a mix-up between sessions would show
        await s.tensor("x", fill="full", shape=[2, 2], fill_value=float(i), requires_grad=True)
        t = await s.run(TUTORIAL_NODES, include=["data"])
        assert t["out"]["data"]["data"] == 3 * (i + 2) ** 2
        assert t["y"]["grad_fn"] == "AddBackward0"
        r = await s.backward("out")
        assert r.status_code == 200, r.text
        return s, r.json()["grads"]["x"]["data"]

    store = client.app.state.manager.store  # type: ignore[attr-defined]
    before = store.count()
    results = await asyncio.gather(*(tutorial(i) for i in range(100)))
    assert store.count() == before + 100
    for i, (s, grad) in enumerate(results):
        expected = float(np.float32(1.5) * np.float32(i + 2))
        assert grad == [[expected, expected], [expected, expected]], i
        assert await s.grad("x") == grad
    ids = {s.id for s, _ in results}
    assert len(ids) == 100
    await asyncio.gather(*(s.delete() for s, _ in results))
    assert store.count() == before


async def test_sessions_do_not_block_each_other(client: httpx.AsyncClient) -> None:
    """A slow request on one session does not hold up requests on another."""
    slow = await open_session(client)
    fast = await open_session(client)
    await slow.tensor("m", fill="randn", shape=[400, 400])
    await fast.tensor("x", value=[1.0])
    chain = [{"name": "m", "op": "matmul", "args": ["m", "m"]}] * 40
    slow_task = asyncio.create_task(slow.graph(chain, no_grad=True))
    await asyncio.sleep(0)
    fast_codes = [(await fast.get("/tensors/x")).status_code for _ in range(5)]
    assert fast_codes == [200] * 5
    assert (await slow_task).status_code == 200
