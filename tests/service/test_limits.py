"""Limits (docs/api.md): checked before allocating; nothing bound on refusal."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from service_testkit import Sess, assert_problem, make_settings, open_session, serve

pytestmark = pytest.mark.anyio

LIMIT = 10_000
BIG = 10**6  # BIG x BIG = 10**12 elements: 4 TB of float32, fatal if ever attempted


def _settings(**overrides: Any) -> Any:
    values: dict[str, Any] = {
        "max_tensor_elements": LIMIT,
        "max_session_bytes": 200_000,
        "max_nodes_per_request": 20,
        "max_body_bytes": 100_000,
    }
    return make_settings(**{**values, **overrides})


@pytest.fixture(scope="module")
async def small() -> AsyncIterator[httpx.AsyncClient]:
    async with serve(_settings()) as c:
        yield c


async def _names(s: Sess) -> set[str]:
    return {t["name"] for t in (await s.get("/tensors")).json()["tensors"]}


@pytest.mark.parametrize(
    "body",
    [
        {"fill": "zeros", "shape": [BIG, BIG]},
        {"fill": "randn", "shape": [BIG, BIG]},
        {"fill": "ones", "shape": [10**12]},
        {"fill": "full", "shape": [10**6, 10**6], "fill_value": 1.0},
        {"fill": "eye", "shape": [BIG]},
        {"fill": "arange", "end": 10**12},
        {"fill": "arange", "start": 0, "end": 1, "step": 1e-12},
        {"fill": "arange", "start": -1e308, "end": 1e308},
        {"fill": "arange", "start": 0, "end": 1e308, "step": 1e-308},
        {"fill": "rand", "shape": [2**40, 2**40, 2**40]},
        {"fill": "zeros", "shape": [LIMIT + 1]},
    ],
)
async def test_huge_fills_are_refused_at_once(
    small: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    s = await open_session(small)
    t0 = time.perf_counter()
    r = await s.post("/tensors", {"name": "big", **body})
    assert time.perf_counter() - t0 < 2
    assert_problem(r, 413, "tensor_too_large")
    assert await _names(s) == set()


async def test_limit_is_inclusive(small: httpx.AsyncClient) -> None:
    s = await open_session(small)
    info = await s.tensor("ok", fill="zeros", shape=[100, 100])
    assert info["shape"] == [100, 100]
    await s.tensor("ok2", fill="arange", end=LIMIT)


async def test_huge_values_are_refused(small: httpx.AsyncClient) -> None:
    s = await open_session(small)
    r = await s.post(
        "/tensors", {"name": "v", "value": {"b64": "", "dtype": "float32", "shape": [BIG, BIG]}}
    )
    assert_problem(r, 413, "tensor_too_large")
    r = await s.post("/tensors", {"name": "v", "value": [0] * (LIMIT + 1)})
    assert_problem(r, 413, "tensor_too_large")
    r = await s.graph([{"op": "neg", "args": [{"value": [0.0] * (LIMIT + 1)}]}])
    assert_problem(r, 413, "tensor_too_large")


@pytest.mark.parametrize(
    "node",
    [
        {"op": "expand", "args": ["row"], "kwargs": {"size": [BIG, 5000]}},
        {"op": "expand", "args": ["row"], "kwargs": {"size": [BIG, -1]}},
        {"op": "expand", "args": ["one"], "kwargs": {"size": [BIG, BIG]}},
        {"op": "matmul", "args": ["col", "row"]},
        {"op": "add", "args": ["col", "row"]},
        {"op": "mul", "args": ["col", "row"]},
        {"op": "maximum", "args": ["col", "row"]},
        {"op": "where", "args": ["mask", "col", "row"]},
        {"op": "gt", "args": ["col", "row"]},
        {"op": "mse_loss", "args": ["col", "row"], "kwargs": {"reduction": "sum"}},
        {"op": "mse_loss", "args": ["col", "row"], "kwargs": {"reduction": "none"}},
        {"op": "reshape", "args": ["small"], "kwargs": {"shape": [BIG, BIG]}},
        {"op": "index", "args": ["small"], "kwargs": {"index": [{"array": [0] * (LIMIT + 1)}]}},
        {"op": "index", "args": ["square"], "kwargs": {"index": ["ic", "ir"]}},
        {"op": "index", "args": ["square"], "kwargs": {"index": [{"array": [[0]] * 200}, "ir"]}},
        {"op": "stack", "args": [["small"] * 200]},
        {"op": "cat", "args": [["small"] * 200]},
        {"op": "index_select", "args": ["square", 0, {"value": [0] * 2000}]},
        {"op": "pad", "args": ["small", [BIG, 0]]},
        {"op": "masked_select", "args": ["col", "mask"]},
    ],
)
async def test_results_above_the_limit_are_refused_before_computing(
    small: httpx.AsyncClient, node: dict[str, Any]
) -> None:
    s = await open_session(small)
    await s.tensor("col", fill="ones", shape=[5000, 1], requires_grad=True)
    await s.tensor("row", fill="ones", shape=[1, 5000])
    await s.tensor("mask", fill="ones", shape=[1, 5000], dtype="bool")
    await s.tensor("small", fill="ones", shape=[100])
    await s.tensor("one", fill="ones", shape=[1, 1])
    await s.tensor("square", fill="ones", shape=[10, 10])
    await s.tensor("ic", fill="zeros", shape=[500, 1], dtype="int64")
    await s.tensor("ir", fill="zeros", shape=[1, 500], dtype="int64")
    before = await _names(s)
    t0 = time.perf_counter()
    r = await s.graph([{"name": "fine", "op": "neg", "args": ["small"]}, {"name": "big", **node}])
    assert time.perf_counter() - t0 < 2
    if node["op"] == "reshape":
        assert r.status_code in (400, 413), r.text
    else:
        body = assert_problem(r, 413, "tensor_too_large")
        assert body["node"] == 1
    assert await _names(s) == before


async def test_backward_gradient_above_limit(small: httpx.AsyncClient) -> None:
    s = await open_session(small)
    await s.tensor("x", fill="ones", shape=[10], requires_grad=True)
    await s.run([{"name": "y", "op": "mul", "args": ["x", 2]}])
    r = await s.backward("y", gradient={"b64": "", "dtype": "float32", "shape": [BIG, BIG]})
    assert_problem(r, 413, "tensor_too_large")


async def test_session_quota(small: httpx.AsyncClient) -> None:
    s = await open_session(small)
    await s.tensor("a", fill="zeros", shape=[100, 100], dtype="float64")  # 80 000 bytes
    await s.tensor("b", fill="zeros", shape=[100, 100], dtype="float64")  # 160 000
    r = await s.post(
        "/tensors", {"name": "c", "fill": "zeros", "shape": [100, 100], "dtype": "float64"}
    )
    body = assert_problem(r, 507, "session_quota_exceeded")
    assert "quota" in body["detail"]
    assert await _names(s) == {"a", "b"}
    # graph results count too: nothing is bound and no in-place change survives
    await s.tensor("w", value=[1.0, 2.0])
    r = await s.graph(
        [
            {"op": "add_", "args": ["w", 1]},
            {"name": "c", "op": "add", "args": ["a", 1]},
        ]
    )
    assert_problem(r, 507, "session_quota_exceeded")
    assert await _names(s) == {"a", "b", "w"}
    assert await s.data("w") == [1.0, 2.0]
    assert (await s.info("w"))["version"] == 0
    # freeing in the same request makes room
    t = await s.run([{"name": "c", "op": "add", "args": ["a", 1]}], free=["a"])
    assert "c" in t and await _names(s) == {"b", "c", "w"}
    # replacing a tensor by one of the same size fits
    await s.tensor("b", fill="ones", shape=[100, 100], dtype="float64")
    # .npy uploads and autograd.grad bindings count as well
    import io

    buf = io.BytesIO()
    np.save(buf, np.zeros((100, 100)))
    r = await s.put(
        "/tensors/d", content=buf.getvalue(), headers={"Content-Type": "application/x-npy"}
    )
    assert_problem(r, 507, "session_quota_exceeded")
    assert await _names(s) == {"b", "c", "w"}
    info = (await s.get()).json()
    assert info["bytes"] <= info["limits"]["max_session_bytes"]


async def test_grad_bind_respects_quota(small: httpx.AsyncClient) -> None:
    s = await open_session(small)
    await s.tensor("x", fill="ones", shape=[50, 100], dtype="float64", requires_grad=True)
    await s.run(
        [
            {"name": "sq", "op": "mul", "args": ["x", "x"]},
            {"name": "o", "op": "sum", "args": ["sq"]},
        ]
    )
    await s.tensor("pad", fill="zeros", shape=[100, 100], dtype="float64")
    await s.tensor("pad2", fill="zeros", shape=[10, 100], dtype="float64")  # 168 000 in all
    r = await s.post(
        "/grad", {"outputs": ["o"], "inputs": ["x"], "bind": ["dx"], "retain_graph": True}
    )
    assert_problem(r, 507, "session_quota_exceeded")
    assert "dx" not in await _names(s)


async def test_max_sessions() -> None:
    async with serve(_settings(max_sessions=5)) as c:
        sessions = [await open_session(c) for _ in range(5)]
        assert_problem(await c.post("/v1/sessions"), 429, "too_many_sessions")
        await sessions[0].delete()
        assert (await c.post("/v1/sessions")).status_code == 201
        assert_problem(await c.post("/v1/sessions"), 429, "too_many_sessions")


async def test_max_nodes_per_request(small: httpx.AsyncClient) -> None:
    s = await open_session(small)
    await s.tensor("x", value=[1.0])
    nodes = [{"name": "y", "op": "add", "args": ["x", 1]}] * 21
    body = assert_problem(await s.graph(nodes), 413, "graph_too_large")
    assert "20" in body["detail"]
    assert await _names(s) == {"x"}
    assert (await s.graph(nodes[:20])).status_code == 200


async def test_max_body_bytes(small: httpx.AsyncClient) -> None:
    s = await open_session(small)
    big = {"name": "v", "value": [0.5] * 30_000}  # ~150 kB of JSON
    r = await s.post("/tensors", big)
    assert_problem(r, 413, "payload_too_large")
    assert await _names(s) == set()
    # no Content-Length at all: a chunked body is cut off while it streams in
    import orjson

    payload = orjson.dumps(big)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 8192):
            yield payload[i : i + 8192]

    r = await s.client.post(
        s.url("/tensors"),
        content=chunks(),
        headers={**s.headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in r.request.headers
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert_problem(r, 413, "payload_too_large")
    assert await _names(s) == set()
    # the same for .npy uploads and the stateless endpoint
    r = await s.client.put(
        s.url("/tensors/n"),
        content=chunks(),
        headers={**s.headers, "Content-Type": "application/x-npy"},
    )
    assert_problem(r, 413, "payload_too_large")
    r = await small.post("/v1/grad", content=chunks(), headers={"Content-Type": "application/json"})
    assert_problem(r, 413, "payload_too_large")
    # a small chunked body is fine
    small_payload = orjson.dumps({"name": "ok", "value": [1.0, 2.0]})

    async def one() -> AsyncIterator[bytes]:
        yield small_payload

    r = await s.client.post(
        s.url("/tensors"), content=one(), headers={**s.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 201, r.text
