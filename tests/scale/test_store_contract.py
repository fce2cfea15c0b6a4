"""The session-store contract: the same tests on the memory store and on the Redis store.

Each test drives an in-process app (``create_app(Settings(store=...))``) over HTTP. On Redis
every request loads the session from Redis and writes it back, so a test that spans
several requests checks that names, values, grads, versions, flags and the graph
(saved values, freed buffers, create_graph results) survive the store. Redis-only checks
look at the keys themselves: every key of a session carries its TTL, and delete, expiry
and failed requests leave exactly what they should.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
import redis
from scale_kit import (
    ASess,
    app_for,
    assert_every_key_expires,
    assert_problem,
    f32,
    session_keys,
)

import engine
from service.stores import RedisStore

pytestmark = pytest.mark.anyio

TUTORIAL_LIKE: list[dict[str, Any]] = [
    {"name": "y", "op": "mul", "args": ["x", "x"]},
    {"name": "y", "op": "mul", "args": ["y", 3]},
    {"name": "out", "op": "sum", "args": ["y"]},
]


def redis_of(client: httpx.AsyncClient) -> RedisStore | None:
    store = client.app.state.manager.store  # type: ignore[attr-defined]
    return store if isinstance(store, RedisStore) else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def snapshot(r: redis.Redis, sid: str) -> dict[str, Any]:
    """Every key of the session with its value (the lease lock aside)."""
    out: dict[str, Any] = {}
    for k in session_keys(r, sid):
        if k.endswith(":lock"):
            continue
        kind = _text(r.type(k))
        out[k] = r.hgetall(k) if kind == "hash" else r.get(k)
    return out


async def test_create_read_delete_frees_every_key(store: str) -> None:
    async with app_for(store) as client:
        s = await ASess.open(client, ttl_seconds=600)
        info = await s.ok("GET")
        assert (info["session_id"], info["backend"], info["tensor_count"]) == (s.id, "numpy", 0)
        assert info["limits"]["ttl_seconds"] == 600
        await s.create(name="x", fill="ones", shape=[3], requires_grad=True)
        await s.run(TUTORIAL_LIKE)
        assert await s.backward("out") is not None
        assert (await s.ok("GET"))["tensor_count"] == 3
        assert_problem(
            await client.get(f"/v1/sessions/{s.id}", headers={"Authorization": "Bearer nope"}),
            404,
            "session_not_found",
        )
        assert_problem(await client.get(f"/v1/sessions/{s.id}"), 401, "unauthorized")
        rs = redis_of(client)
        if rs is not None:
            with redis.Redis.from_url(store) as r:
                keys = assert_every_key_expires(r, s.id, 600_000)
            assert sorted(await rs.keys_of(s.id)) == keys
            # buffers in the arrays hash, one record per object in the graph hash
            assert any(k.endswith(":arrays") for k in keys) and any(
                k.endswith(":graph") for k in keys
            )
        await s.ok("DELETE", "", 204)
        assert_problem(await s.request("GET"), 404, "session_not_found")
        assert_problem(await s.request("GET", "/tensors/x"), 404, "session_not_found")
        if rs is not None:
            assert await rs.keys_of(s.id) == []
            assert await rs.count() == 0


async def test_values_grads_versions_and_flags_round_trip(store: str) -> None:
    async with app_for(store) as client:
        s = await ASess.open(client)
        await s.create(name="x", value=[[1.5, -2.0, 3.25], [0.0, 1e-3, -7.5]], requires_grad=True)
        await s.create(name="i", value=[3, -1, 2**40], dtype="int64")
        await s.create(name="m", value=[True, False, True])
        await s.create(name="d", value=[0.1, 0.2], dtype="float64")
        await s.create(name="h", value=[1.0, 2.0], dtype="float16")
        await s.create(name="c", value=[1.0, 2.0, 3.0])
        await s.run([{"name": "nan", "op": "div", "args": [{"value": [0.0, 1.0]}, 0.0]}])
        await s.run(TUTORIAL_LIKE)
        assert (await s.backward("out")).status_code == 200
        await s.run([{"op": "add_", "args": ["c", 1]}])
        await s.run([{"op": "mul_", "args": ["c", 2]}])

        x = await s.info("x")
        assert (x["requires_grad"], x["is_leaf"], x["grad_fn"], x["version"]) == (
            True,
            True,
            None,
            0,
        )
        xv = f32([[1.5, -2.0, 3.25], [0.0, 1e-3, -7.5]])
        np.testing.assert_array_equal(f32(x["data"]["data"]), xv)
        np.testing.assert_array_equal(f32(x["grad"]["data"]), 6 * xv)
        y = await s.info("y", "data")
        assert (y["grad_fn"], y["is_leaf"], y["requires_grad"]) == ("MulBackward0", False, True)
        assert (await s.info("i"))["data"] == {"data": [3, -1, 2**40], "dtype": "int64"}
        assert (await s.info("m"))["data"] == {"data": [True, False, True], "dtype": "bool"}
        assert (await s.info("d"))["data"] == {"data": [0.1, 0.2], "dtype": "float64"}
        assert (await s.info("h"))["data"] == {"data": [1.0, 2.0], "dtype": "float16"}
        assert (await s.info("nan"))["data"]["data"] == ["nan", "inf"]
        c = await s.info("c")
        assert (c["data"]["data"], c["version"], c["grad"]) == ([4.0, 6.0, 8.0], 2, None)

        # .npy in and out, and a replace that keeps the name
        big = np.arange(12, dtype=np.float64).reshape(3, 4)
        buf = _npy(big)
        r = await s.request(
            "PUT", "/tensors/n", content=buf, headers={"Content-Type": "application/x-npy"}
        )
        assert r.status_code == 201, r.text
        r = await s.request(
            "PUT",
            "/tensors/n",
            content=_npy(big.T.copy()),
            params={"requires_grad": "true"},
            headers={"Content-Type": "application/x-npy"},
        )
        assert r.status_code == 200, r.text
        r = await s.request("GET", "/tensors/n/data", headers={"Accept": "application/x-npy"})
        got = np.load(_bytes_io(r.content))
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, big.T)
        assert (await s.info("n", ""))["requires_grad"] is True

        rs = redis_of(client)
        if rs is not None:  # what a fresh load from Redis holds, tensor by tensor
            async with rs.lock(s.id) as lease:
                names = (await rs.load(s.id, lease)).names
            assert names["x"]._version == 0 and names["c"]._version == 2
            assert names["x"].requires_grad and names["x"].is_leaf
            grad = names["x"].grad
            assert grad is not None
            np.testing.assert_array_equal(grad.numpy(), 6 * xv)
            assert names["y"].grad_fn is not None and names["y"].grad_fn.name() == "MulBackward0"
            assert names["i"].dtype is engine.int64 and names["m"].dtype is engine.bool


def _npy(a: np.ndarray[Any, Any]) -> bytes:
    buf = _bytes_io()
    np.save(buf, a)
    return buf.getvalue()


def _bytes_io(data: bytes = b"") -> Any:
    import io

    return io.BytesIO(data)


async def test_failed_graph_request_changes_nothing(store: str) -> None:
    async with app_for(store) as client:
        s = await ASess.open(client)
        await s.create(name="x", value=[1.0, 2.0], requires_grad=True)
        await s.create(name="c", value=[1.0, 2.0])
        await s.run([{"name": "y", "op": "mul", "args": ["x", 2]}])
        rs = redis_of(client)
        before: dict[str, Any] = {}
        if rs is not None:
            with redis.Redis.from_url(store) as r:
                before = snapshot(r, s.id)
        r = await s.graph(
            [
                {"name": "y", "op": "add", "args": ["x", 100]},
                {"op": "add_", "args": ["c", 5]},
                {"name": "new", "op": "exp", "args": ["c"]},
                {"name": "bad", "op": "add", "args": ["nowhere", 1]},
            ]
        )
        assert assert_problem(r, 400, "unknown_name")["node"] == 3
        r = await s.graph([{"op": "mul_", "args": ["c", 3]}, {"op": "nosuchop", "args": ["c"]}])
        assert assert_problem(r, 400, "unknown_op")["node"] == 1
        c = await s.info("c")
        assert (c["data"]["data"], c["version"]) == ([1.0, 2.0], 0)
        assert (await s.info("y", "data"))["data"]["data"] == [2.0, 4.0]
        assert_problem(await s.request("GET", "/tensors/new"), 404, "tensor_not_found")
        if rs is not None:
            with redis.Redis.from_url(store) as r:
                assert snapshot(r, s.id) == before


async def test_inplace_modified_and_freed_graphs_survive_the_store(store: str) -> None:
    async with app_for(store) as client:
        s = await ASess.open(client)
        await s.create(name="x", value=[1.0, 2.0, 3.0], requires_grad=True)
        r = await s.graph([{"op": "add_", "args": ["x", 1]}])
        assert_problem(r, 400, "leaf_inplace")
        # h is saved by y = h * h; modifying h in a later request breaks backward through y
        await s.run(
            [
                {"name": "h", "op": "mul", "args": ["x", 1]},
                {"name": "y", "op": "mul", "args": ["h", "h"]},
                {"name": "out", "op": "sum", "args": ["y"]},
            ]
        )
        h = (await s.run([{"op": "mul_", "args": ["h", 2]}], **{"return": ["h"]}))["h"]
        assert (h["version"], h["grad_fn"]) == (1, "MulBackward0")
        body = assert_problem(await s.backward("out"), 409, "modified_inplace")
        assert "is at version 1; expected version 0 instead" in body["detail"]
        assert await s.grad("x") is None
        # graph_freed: the second backward through the same graph
        await s.run(
            [
                {"name": "q", "op": "mul", "args": ["x", "x"]},
                {"name": "o", "op": "sum", "args": ["q"]},
            ]
        )
        assert (await s.backward("o")).status_code == 200
        body = assert_problem(await s.backward("o"), 409, "graph_freed")
        assert "backward through the graph a second time" in body["detail"]
        assert await s.grad("x") == [2.0, 4.0, 6.0]


async def test_views_alias_across_requests_and_a_failed_request_restores_them(
    store: str,
) -> None:
    async with app_for(store) as client:
        s = await ASess.open(client)
        await s.create(name="leaf", value=[1.0, 2.0, 3.0, 4.0], requires_grad=True)
        await s.run(
            [
                {"name": "a", "op": "mul", "args": ["leaf", 1]},
                {
                    "name": "b",
                    "op": "index",
                    "args": ["a"],
                    "kwargs": {"index": [{"slice": [0, 2]}]},
                },
                {
                    "name": "c",
                    "op": "index",
                    "args": ["a"],
                    "kwargs": {"index": [{"slice": [1, 3]}]},
                },
            ]
        )
        await s.run([{"op": "mul_", "args": ["b", 10]}])  # a later request: b is still a view
        a = await s.info("a", "data")
        assert (a["data"]["data"], a["version"], a["grad_fn"]) == (
            [10.0, 20.0, 3.0, 4.0],
            1,
            "CopySlices",  # the type name, as torch prints it
        )
        c = await s.info("c", "data")
        assert (c["data"]["data"], c["grad_fn"]) == ([20.0, 3.0], "AsStridedBackward0")
        # a failed request that wrote through a view leaves base and views as they were
        r = await s.graph(
            [
                {"op": "add_", "args": ["c", 100]},
                {"name": "bad", "op": "add", "args": ["nowhere", 1]},
            ]
        )
        assert_problem(r, 400, "unknown_name")
        a = await s.info("a", "data")
        assert (a["data"]["data"], a["version"]) == ([10.0, 20.0, 3.0, 4.0], 1)
        assert (await s.info("c", "data"))["data"]["data"] == [20.0, 3.0]
        await s.run([{"name": "out", "op": "sum", "args": ["a"]}])
        assert (await s.backward("out")).status_code == 200
        assert await s.grad("leaf") == [10.0, 10.0, 1.0, 1.0]


async def test_retain_graph_accumulates_across_requests(store: str) -> None:
    async with app_for(store) as client:
        s = await ASess.open(client)
        await s.create(name="x", value=[1.0, -2.0], requires_grad=True)
        await s.run(TUTORIAL_LIKE)
        for k in range(1, 4):
            r = await s.backward("out", retain_graph=True)
            assert r.status_code == 200, r.text
            assert r.json()["grads"]["x"]["data"] == [6.0 * k, -12.0 * k]
        assert (await s.backward("out")).status_code == 200
        assert await s.grad("x") == [24.0, -48.0]
        assert_problem(await s.backward("out"), 409, "graph_freed")
        await s.ok("POST", "/zero_grad", 204)
        assert await s.grad("x") is None


async def test_create_graph_and_bind_give_a_hessian_vector_product(store: str) -> None:
    async with app_for(store) as client:
        s = await ASess.open(client)
        await s.create(name="x", value=[1.0, 2.0, 3.0], requires_grad=True)
        await s.run(
            [
                {"name": "c", "op": "pow", "args": ["x", 3]},
                {"name": "f", "op": "sum", "args": ["c"]},
            ]
        )
        body = {"outputs": ["f"], "inputs": ["x"], "create_graph": True, "bind": ["dx"]}
        assert (await s.ok("POST", "/grad", json=body))["grads"]["x"]["data"] == [3.0, 12.0, 27.0]
        dx = await s.info("dx", "data")
        assert dx["requires_grad"] is True and dx["grad_fn"] is not None
        await s.run(
            [
                {"name": "g", "op": "mul", "args": ["dx", {"value": [1.0, 0.5, 2.0]}]},
                {"name": "g", "op": "sum", "args": ["g"]},
            ]
        )
        hv = await s.ok("POST", "/grad", json={"outputs": ["g"], "inputs": ["x"]})
        assert hv["grads"]["x"]["data"] == [6.0, 6.0, 36.0]
        # backward(create_graph) leaves a .grad with history: differentiate it once more
        assert (await s.backward("f", create_graph=True)).status_code == 200
        await s.run([{"name": "gx", "op": "grad_of", "args": ["x"]}])
        await s.run([{"name": "gs", "op": "sum", "args": ["gx"]}])
        r = await s.ok("POST", "/grad", json={"outputs": ["gs"], "inputs": ["x"]})
        assert r["grads"]["x"]["data"] == [6.0, 12.0, 18.0]


async def test_ttl_is_renewed_by_use_and_expiry_removes_every_key(store: str) -> None:
    async with app_for(store) as client:
        s = await ASess.open(client, ttl_seconds=1)
        await s.create(name="x", value=[1.0, 2.0], requires_grad=True)
        await s.run(TUTORIAL_LIKE)
        await s.backward("out", retain_graph=True)
        rs = redis_of(client)
        if rs is not None:
            with redis.Redis.from_url(store) as r:
                keys = assert_every_key_expires(r, s.id, 1000)
                assert len(keys) >= 4  # meta, graph, arrays
        for _ in range(4):  # 1.6 s of use keeps a 1 s session alive
            await anyio.sleep(0.4)
            assert await s.grad("x") == [6.0, 12.0]
        await anyio.sleep(1.5)
        assert_problem(await s.request("GET"), 404, "session_not_found")
        if rs is not None:
            assert await rs.keys_of(s.id) == []
        manager = client.app.state.manager  # type: ignore[attr-defined]
        await manager.sweep()
        assert (await rs.count() if rs is not None else manager.live_sessions()) == 0


async def test_session_bytes_and_quota(store: str) -> None:
    async with app_for(store, max_session_bytes=4096) as client:
        s = await ASess.open(client)
        await s.create(name="x", fill="ones", shape=[512], requires_grad=True)  # 2048 bytes
        assert (await s.ok("GET"))["bytes"] == 2048
        # views share their base's bytes: a reshape and a slice add nothing
        await s.run([{"name": "xr", "op": "reshape", "args": ["x"], "kwargs": {"shape": [16, 32]}}])
        await s.run(
            [
                {
                    "name": "xs",
                    "op": "index",
                    "args": ["x"],
                    "kwargs": {"index": [{"slice": [0, 8, 2]}]},
                }
            ]
        )
        assert (await s.ok("GET"))["bytes"] == 2048
        rs = redis_of(client)
        before: dict[str, Any] = {}
        if rs is not None:
            with redis.Redis.from_url(store) as r:
                before = snapshot(r, s.id)
        assert_problem(
            await s.request(
                "POST", "/tensors", json={"name": "big", "fill": "zeros", "shape": [1024]}
            ),
            507,
            "session_quota_exceeded",
        )
        await s.run([{"name": "y", "op": "mul", "args": ["x", 2]}], no_grad=True)  # 4096: at quota
        assert (await s.ok("GET"))["bytes"] == 4096
        assert_problem(
            await s.graph([{"name": "z", "op": "mul", "args": ["x", 3]}], no_grad=True),
            507,
            "session_quota_exceeded",
        )
        await s.ok("DELETE", "/tensors/y", 204)
        assert (await s.ok("GET"))["bytes"] == 2048
        if rs is not None:
            meta = await rs.meta(s.id)
            assert meta is not None and meta["bytes"] == 2048
            with redis.Redis.from_url(store) as r:
                after = snapshot(r, s.id)
                buffers = after.get(f"gs:{{{s.id}}}:arrays", {})
                stored = sum(len(v) for v in buffers.values())
            assert stored == 2048  # the base once; views are (offset, strides) on it
            assert set(buffers) == set(before.get(f"gs:{{{s.id}}}:arrays", {}))


async def test_max_sessions_is_429(store: str) -> None:
    async with app_for(store, max_sessions=2) as client:
        a = await ASess.open(client)
        await ASess.open(client)
        r = await client.post("/v1/sessions", json={})
        assert_problem(r, 429, "too_many_sessions")
        await a.ok("DELETE", "", 204)
        await ASess.open(client)
        assert_problem(await client.post("/v1/sessions", json={}), 429, "too_many_sessions")


async def test_seeded_generator_and_names_continue_across_requests(store: str) -> None:
    gen = np.random.default_rng(7)
    expected = [
        engine.randn(4, generator=gen).numpy(),
        engine.randn(2, 2, generator=gen).numpy(),
        engine.rand(3, generator=gen).numpy(),
    ]
    async with app_for(store) as client:
        s = await ASess.open(client, seed=7)
        t1 = await s.create(fill="randn", shape=[4])
        t2 = await s.create(fill="randn", shape=[2, 2])
        t3 = await s.create(fill="rand", shape=[3])
        assert [t1["name"], t2["name"], t3["name"]] == ["t1", "t2", "t3"]
        for name, want in zip(("t1", "t2", "t3"), expected, strict=True):
            np.testing.assert_array_equal(f32(await s.value(name)), want)


async def test_concurrent_requests_on_one_session_serialize(store: str) -> None:
    async with app_for(store) as client:
        s = await ASess.open(client)
        await s.create(name="x", value=[1.0, 2.0, 3.0], requires_grad=True)
        await s.run(TUTORIAL_LIKE)
        await s.create(name="n", value=[0.0])

        async def worker() -> None:
            for _ in range(3):
                r = await s.backward("out", retain_graph=True)
                assert r.status_code == 200, r.text
                # a read-modify-write that loses updates unless requests serialize
                r = await s.graph([{"op": "add_", "args": ["n", 1]}], no_grad=True)
                assert r.status_code == 200, r.text

        await asyncio.gather(*(worker() for _ in range(8)))
        assert await s.grad("x") == [6.0 * 24, 12.0 * 24, 18.0 * 24]
        n = await s.info("n", "data")
        assert (n["data"]["data"], n["version"]) == ([24.0], 24)


async def test_concurrent_requests_see_the_generator_and_names_their_predecessor_left(
    store: str,
) -> None:
    """Requests queued on the lock each draw the next values and take the next name."""
    async with app_for(store) as client:
        s = await ASess.open(client, seed=11)
        infos = await asyncio.gather(*(s.create(fill="randn", shape=[2]) for _ in range(8)))
        assert sorted(i["name"] for i in infos) == [f"t{k}" for k in range(1, 9)]
        gen = np.random.default_rng(11)
        for k in range(1, 9):  # in the order the lock let them in
            want = engine.randn(2, generator=gen).numpy()
            np.testing.assert_array_equal(f32(await s.value(f"t{k}")), want)
