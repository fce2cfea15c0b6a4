"""Tensors: create (value and fills), list, read, PATCH, DELETE, zero_grad (docs/api.md)."""

from __future__ import annotations

import base64
import math
from typing import Any

import httpx
import numpy as np
import pytest
from service_testkit import Sess, assert_problem, open_session, tutorial

pytestmark = pytest.mark.anyio

TENSOR_INFO_KEYS = {"name", "shape", "dtype", "requires_grad", "is_leaf", "grad_fn", "data", "grad"}


def b64_of(arr: np.ndarray[Any, Any]) -> dict[str, Any]:
    raw = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
    return {
        "b64": base64.b64encode(raw).decode(),
        "dtype": str(arr.dtype),
        "shape": list(arr.shape),
    }


def from_b64(td: dict[str, Any]) -> np.ndarray[Any, Any]:
    dt = np.dtype("bool" if td["dtype"] == "bool" else td["dtype"]).newbyteorder("<")
    return np.frombuffer(base64.b64decode(td["b64"]), dtype=dt).reshape(td["shape"])


# ------------------------------------------------------------------ create from a value
@pytest.mark.parametrize(
    ("value", "dtype", "shape", "data"),
    [
        (
            {"data": [[1, 2], [3, 4]], "dtype": "float32"},
            "float32",
            [2, 2],
            [[1.0, 2.0], [3.0, 4.0]],
        ),
        ({"data": [[1, 2], [3, 4]]}, "int64", [2, 2], [[1, 2], [3, 4]]),
        ([1.5, -2.0], "float32", [2], [1.5, -2.0]),
        ([True, False], "bool", [2], [True, False]),
        ([[1, 2, 3]], "int64", [1, 3], [[1, 2, 3]]),
        (3, "int64", [], 3),
        (2.5, "float32", [], 2.5),
        (True, "bool", [], True),
        ({"data": 7, "dtype": "float64"}, "float64", [], 7.0),
        ({"data": [1, 2], "dtype": "int32"}, "int32", [2], [1, 2]),
        ({"data": [0.5, 1], "dtype": "float16"}, "float16", [2], [0.5, 1.0]),
        ([], "float32", [0], []),
    ],
)
async def test_create_from_json_value(
    sess: Sess, value: Any, dtype: str, shape: list[int], data: Any
) -> None:
    info = await sess.tensor("v", value=value)
    assert set(info) >= TENSOR_INFO_KEYS
    assert info["name"] == "v"
    assert info["shape"] == shape and info["dtype"] == dtype
    assert info["is_leaf"] is True and info["grad_fn"] is None and info["requires_grad"] is False
    assert info["data"] is None and info["grad"] is None
    got = await sess.data("v")
    assert got == data
    assert type(got) is type(data)


async def test_float32_values_travel_as_shortest_decimals(sess: Sess) -> None:
    values = [0.1, 51.2, 0.0512, 1e-8, 3.4e38, -7.3]
    await sess.tensor("x", value=values)
    assert await sess.data("x") == values
    await sess.run([{"name": "y", "op": "mul", "args": ["x", 0.3]}])
    got = await sess.data("y")
    expected = np.array(values, np.float32) * np.float32(0.3)
    # each value is float32's shortest round-tripping decimal, not the widened float64
    assert got == [float(str(v)) for v in expected]
    await sess.tensor("h", value={"data": [0.1, 1000.1, 65504], "dtype": "float16"})
    # float16's own shortest round-tripping decimals: 65504 is written 65500
    assert await sess.data("h") == [0.1, 1000.0, 65500.0]
    assert np.float16(65500.0) == 65504
    await sess.tensor("d", value={"data": [0.1], "dtype": "float64"})
    await sess.run([{"name": "d3", "op": "mul", "args": ["d", 3]}])
    assert await sess.data("d3") == [0.1 * 3]


async def test_create_with_nonfinite_strings(sess: Sess) -> None:
    await sess.tensor("x", value=["nan", "inf", "-inf", 1.0])
    info = await sess.info("x", include="data")
    assert info["dtype"] == "float32"
    assert info["data"]["data"] == ["nan", "inf", "-inf", 1.0]
    await sess.tensor("y", value={"data": [[1, "inf"], ["-inf", "nan"]], "dtype": "float64"})
    assert await sess.data("y") == [[1.0, "inf"], ["-inf", "nan"]]
    await sess.tensor("s", value="nan")
    assert await sess.data("s") == "nan"
    # results that become non-finite are written the same way
    await sess.run([{"name": "l", "op": "log", "args": [{"value": [0.0, -1.0, 1.0]}]}])
    assert await sess.data("l") == ["-inf", "nan", 0.0]


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
        np.array([1e300, -2.5], dtype=np.float64),
        np.array([[1, -2], [3, 4]], dtype=np.int64),
        np.array([7, -8], dtype=np.int32),
        np.array([True, False, True]),
        np.array([0.5, np.inf], dtype=np.float16),
        np.array(3.25, dtype=np.float32),
    ],
)
async def test_create_from_b64_and_read_back_b64(sess: Sess, arr: np.ndarray[Any, Any]) -> None:
    info = await sess.tensor("b", value=b64_of(arr))
    assert info["dtype"] == str(arr.dtype) and info["shape"] == list(arr.shape)
    r = await sess.get("/tensors/b", params={"include": "data", "encoding": "b64"})
    td = r.json()["data"]
    assert set(td) == {"b64", "dtype", "shape"}
    back = from_b64(td)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    r = await sess.get("/tensors/b/data", params={"encoding": "b64"})
    np.testing.assert_array_equal(from_b64(r.json()), arr)


async def test_value_with_explicit_dtype_casts(sess: Sess) -> None:
    info = await sess.tensor("x", value=[1, 2], dtype="float64")
    assert info["dtype"] == "float64"
    assert await sess.data("x") == [1.0, 2.0]
    info = await sess.tensor("y", value={"data": [1.0, 2.0]}, dtype="float16", requires_grad=True)
    assert info["dtype"] == "float16" and info["requires_grad"] is True


@pytest.mark.parametrize(
    "value",
    [
        [[1, 2], [3]],
        ["one"],
        {"data": [1], "dtype": "complex64"},
        {"b64": "!!!", "dtype": "float32", "shape": [1]},
        {"b64": base64.b64encode(b"\0" * 3).decode(), "dtype": "float32", "shape": [1]},
        {"b64": "AAAAAA==", "dtype": "float32", "shape": [-1]},
        {"data": [1], "b64": "AAAAAA==", "dtype": "float32", "shape": [1]},
        None,
    ],
)
async def test_bad_values_are_4xx(sess: Sess, value: Any) -> None:
    r = await sess.post("/tensors", {"name": "x", "value": value})
    assert r.status_code in (400, 413, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert_problem(await sess.get("/tensors/x"), 404, "tensor_not_found")


async def test_requires_grad_on_integers_is_invalid_argument(sess: Sess) -> None:
    r = await sess.post("/tensors", {"name": "i", "value": [1, 2], "requires_grad": True})
    assert_problem(r, 400, "invalid_argument")
    r = await sess.post("/tensors", {"name": "b", "value": [True], "requires_grad": True})
    assert_problem(r, 400, "invalid_argument")
    r = await sess.post(
        "/tensors", {"name": "a", "fill": "arange", "end": 5, "requires_grad": True}
    )
    assert_problem(r, 400, "invalid_argument")
    assert (await sess.get("/tensors")).json()["tensors"] == []


async def test_exactly_one_source(sess: Sess) -> None:
    r = await sess.post("/tensors", {"name": "x"})
    assert_problem(r, 400, "invalid_argument")
    r = await sess.post("/tensors", {"name": "x", "value": [1], "fill": "zeros", "shape": [1]})
    assert_problem(r, 400, "invalid_argument")


# ----------------------------------------------------------------------------- fills
async def test_fills(sess: Sess) -> None:
    z = await sess.tensor("z", fill="zeros", shape=[2, 3])
    assert z["dtype"] == "float32" and z["shape"] == [2, 3]
    assert await sess.data("z") == [[0.0] * 3] * 2
    o = await sess.tensor("o", fill="ones", shape=[2], dtype="int32")
    assert o["dtype"] == "int32"
    assert await sess.data("o") == [1, 1]
    f = await sess.tensor("f", fill="full", shape=[2, 2], fill_value=7)
    assert f["dtype"] == "int64"
    assert await sess.data("f") == [[7, 7], [7, 7]]
    f2 = await sess.tensor("f2", fill="full", shape=[3], fill_value=0.5)
    assert f2["dtype"] == "float32"
    assert await sess.data("f2") == [0.5, 0.5, 0.5]
    fb = await sess.tensor("fb", fill="full", shape=[1], fill_value=True)
    assert fb["dtype"] == "bool"
    e = await sess.tensor("e", fill="eye", shape=[3])
    assert e["shape"] == [3, 3] and e["dtype"] == "float32"
    assert await sess.data("e") == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    e2 = await sess.tensor("e2", fill="eye", shape=[2, 3])
    assert e2["shape"] == [2, 3]
    assert await sess.data("e2") == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    a = await sess.tensor("a", fill="arange", end=5)
    assert a["dtype"] == "int64"
    assert await sess.data("a") == [0, 1, 2, 3, 4]
    a2 = await sess.tensor("a2", fill="arange", start=1, end=2, step=0.25)
    assert a2["dtype"] == "float32"
    assert await sess.data("a2") == [1.0, 1.25, 1.5, 1.75]
    await sess.tensor("a3", fill="arange", start=5, end=0, step=-2)
    assert await sess.data("a3") == [5, 3, 1]
    a4 = await sess.tensor("a4", fill="arange", end=3, dtype="float64")
    assert a4["dtype"] == "float64"
    rn = await sess.tensor("rn", fill="randn", shape=[1000])
    assert rn["dtype"] == "float32"
    vals = np.array(await sess.data("rn"))
    assert abs(vals.mean()) < 0.2 and 0.8 < vals.std() < 1.2
    await sess.tensor("ru", fill="rand", shape=[1000], dtype="float64")
    u = np.array(await sess.data("ru"))
    assert u.min() >= 0 and u.max() < 1 and 0.4 < u.mean() < 0.6
    leaf = await sess.tensor("w", fill="randn", shape=[2, 2], requires_grad=True)
    assert leaf["requires_grad"] is True and leaf["is_leaf"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"fill": "zeros"},
        {"fill": "full", "shape": [2]},
        {"fill": "arange"},
        {"fill": "arange", "end": 3, "step": 0},
        {"fill": "eye", "shape": [1, 2, 3]},
        {"fill": "sparkly", "shape": [2]},
        {"fill": "zeros", "shape": [-1]},
        {"fill": "zeros", "shape": [0, 2**63]},
        {"fill": "eye", "shape": [0, 2**63]},
        {"fill": "rand", "shape": [3], "dtype": "int64"},
        {"fill": "randn", "shape": [3], "dtype": "bool"},
    ],
)
async def test_bad_fills_are_4xx(sess: Sess, body: dict[str, Any]) -> None:
    r = await sess.post("/tensors", {"name": "x", **body})
    assert r.status_code in (400, 413, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert_problem(await sess.get("/tensors/x"), 404, "tensor_not_found")


async def test_seed_makes_random_fills_reproducible(client: httpx.AsyncClient) -> None:
    async def draw(seed: int | None) -> list[Any]:
        s = await open_session(client, **({} if seed is None else {"seed": seed}))
        await s.tensor("a", fill="randn", shape=[4])
        await s.tensor("b", fill="rand", shape=[2, 2])
        return [await s.data("a"), await s.data("b")]

    first, second, other = await draw(42), await draw(42), await draw(43)
    assert first == second
    assert first != other
    assert first[0] != first[1]
    assert await draw(None) != await draw(None)


async def test_seed_on_a_fill_is_manual_seed(client: httpx.AsyncClient) -> None:
    """``"seed"`` on a fill restarts the session's generator: the stream a session opened
    with that seed draws, from its start."""
    fresh = await open_session(client, seed=7)
    await fresh.tensor("a", fill="randn", shape=[3])
    want = await fresh.data("a")
    s = await open_session(client)
    await s.tensor("x", fill="rand", shape=[5])  # the generator moved on
    await s.tensor("a", fill="randn", shape=[3], seed=7)
    await s.tensor("b", fill="zeros", shape=[2], seed=7)  # reseeds, draws nothing
    await s.tensor("c", fill="randn", shape=[3])
    assert await s.data("a") == want == await s.data("c")
    for bad in (-1, 2**64):
        r = await s.post("/tensors", {"fill": "randn", "shape": [1], "seed": bad})
        assert_problem(r, 422, "validation_error")


async def test_auto_names_and_list(sess: Sess) -> None:
    a = await sess.tensor(value=[1.0])
    b = await sess.tensor(fill="zeros", shape=[2])
    assert a["name"] != b["name"]
    for info in (a, b):
        assert info["name"]
        assert (await sess.get(f"/tensors/{info['name']}")).status_code == 200
    await sess.tensor("x", value=[[1.0, 2.0]], requires_grad=True)
    listed = (await sess.get("/tensors")).json()["tensors"]
    assert {t["name"] for t in listed} == {a["name"], b["name"], "x"}
    for t in listed:
        assert set(t) >= TENSOR_INFO_KEYS
        assert t["data"] is None
    x = next(t for t in listed if t["name"] == "x")
    assert x["shape"] == [1, 2] and x["requires_grad"] is True


async def test_auto_names_never_overwrite(sess: Sess) -> None:
    names = set()
    for i in range(5):
        await sess.tensor(f"t{i}", value=[float(i)])
    for _ in range(5):
        names.add((await sess.tensor(value=[9.0]))["name"])
    assert len(names) == 5
    for i in range(5):
        assert await sess.data(f"t{i}") == [float(i)]


async def test_rebinding_a_name_replaces_it(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0])
    await sess.tensor("x", value=[[2, 3]])
    info = await sess.info("x", include="data")
    assert info["shape"] == [1, 2] and info["data"]["data"] == [[2, 3]]


@pytest.mark.parametrize("name", ["...", "1x", "a b", "x" * 129, ""])
async def test_invalid_names_are_refused(sess: Sess, name: str) -> None:
    r = await sess.post("/tensors", {"name": name, "value": [1.0]})
    assert_problem(r, 422, "validation_error")


async def test_name_grammar_allows_dots_and_dashes(sess: Sess) -> None:
    name = "_layer.0-w" + "x" * 118
    assert len(name) == 128
    await sess.tensor(name, value=[1.0])
    assert await sess.data(name) == [1.0]


# ---------------------------------------------------------------------------- reads
async def test_read_with_include_data_and_grad(sess: Sess) -> None:
    await tutorial(sess)
    info = await sess.info("x")
    assert info["data"] is None and info["grad"] is None
    info = await sess.info("x", include="data,grad")
    assert info["data"] == {"data": [[1.0, 1.0], [1.0, 1.0]], "dtype": "float32"}
    assert info["grad"] is None
    assert (await sess.backward("out")).status_code == 200
    info = await sess.info("x", include="grad")
    assert info["data"] is None
    assert info["grad"] == {"data": [[4.5, 4.5], [4.5, 4.5]], "dtype": "float32"}
    r = await sess.get("/tensors/x", params={"include": "data,grad", "encoding": "b64"})
    body = r.json()
    np.testing.assert_array_equal(from_b64(body["data"]), np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(from_b64(body["grad"]), np.full((2, 2), 4.5, np.float32))
    y = await sess.info("y", include="data")
    assert y["grad_fn"] == "AddBackward0" and y["is_leaf"] is False
    assert y["requires_grad"] is True


async def test_read_bad_include_or_encoding(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0])
    r = await sess.get("/tensors/x", params={"include": "data,bogus"})
    assert r.status_code in (400, 422)
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await sess.get("/tensors/x", params={"encoding": "hex"})
    assert_problem(r, 422, "validation_error")


async def test_read_unknown_tensor_is_404(sess: Sess) -> None:
    for path in ("/tensors/nope", "/tensors/nope/data", "/tensors/nope/grad"):
        assert_problem(await sess.get(path), 404, "tensor_not_found")
    assert_problem(
        await sess.patch("/tensors/nope", {"requires_grad": True}), 404, "tensor_not_found"
    )
    assert_problem(await sess.delete("/tensors/nope"), 404, "tensor_not_found")


async def test_grad_json_is_null_without_grad(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0], requires_grad=True)
    r = await sess.get("/tensors/x/grad")
    assert r.status_code == 200 and r.json() is None
    assert r.headers["content-type"].startswith("application/json")
    r = await sess.get("/tensors/x/data")
    assert r.json() == {"data": [1.0], "dtype": "float32"}


# ---------------------------------------------------------------------------- PATCH
async def test_patch_requires_grad(sess: Sess) -> None:
    await sess.tensor("a", fill="randn", shape=[2, 2])
    r = await sess.patch("/tensors/a", {"requires_grad": True})
    assert r.status_code == 200
    assert r.json()["requires_grad"] is True and r.json()["is_leaf"] is True
    assert r.json()["grad_fn"] is None
    r = await sess.patch("/tensors/a", {"requires_grad": False})
    assert r.status_code == 200 and r.json()["requires_grad"] is False
    await sess.tensor("i", value=[1, 2])
    assert_problem(await sess.patch("/tensors/i", {"requires_grad": True}), 400, "invalid_argument")
    assert (await sess.info("i"))["requires_grad"] is False
    assert_problem(await sess.patch("/tensors/a", {}), 422, "validation_error")
    assert_problem(await sess.patch("/tensors/a", {"requires_grad": "x"}), 422, "validation_error")


async def test_patch_on_non_leaf(sess: Sess) -> None:
    await tutorial(sess)
    body = assert_problem(await sess.patch("/tensors/y", {"requires_grad": False}), 400, "not_leaf")
    assert "non-leaf" in body["detail"] or "leaf" in body["detail"]
    y = await sess.info("y")
    assert y["requires_grad"] is True and y["grad_fn"] == "AddBackward0"
    r = await sess.patch("/tensors/y", {"requires_grad": True})
    assert r.status_code == 200
    assert r.json()["requires_grad"] is True and r.json()["grad_fn"] == "AddBackward0"


async def test_tutorial_step_four(sess: Sess) -> None:
    await sess.tensor("a", fill="randn", shape=[2, 2])
    t = await sess.run(
        [
            {"name": "n", "op": "mul", "args": ["a", 3]},
            {"name": "d", "op": "sub", "args": ["a", 1]},
            {"name": "a", "op": "div", "args": ["n", "d"]},
        ],
        free=["n", "d"],
        **{"return": ["a"]},
    )
    assert t["a"]["requires_grad"] is False and t["a"]["is_leaf"] is True
    r = await sess.patch("/tensors/a", {"requires_grad": True})
    assert r.json()["requires_grad"] is True and r.json()["grad_fn"] is None
    t = await sess.run(
        [
            {"name": "aa", "op": "mul", "args": ["a", "a"]},
            {"name": "b", "op": "sum", "args": ["aa"]},
        ]
    )
    assert t["b"]["grad_fn"] == "SumBackward0"
    names = {x["name"] for x in (await sess.get("/tensors")).json()["tensors"]}
    assert names == {"a", "aa", "b"}


# --------------------------------------------------------------------- DELETE, zero_grad
async def test_delete_unbinds_but_graph_lives_on(sess: Sess) -> None:
    await tutorial(sess)
    r = await sess.delete("/tensors/y")
    assert r.status_code == 204 and r.content == b""
    assert_problem(await sess.get("/tensors/y"), 404, "tensor_not_found")
    assert_problem(await sess.graph([{"op": "neg", "args": ["y"]}]), 400, "unknown_name")
    r = await sess.backward("out")
    assert r.status_code == 200
    assert r.json()["grads"]["x"]["data"] == [[4.5, 4.5], [4.5, 4.5]]


async def test_zero_grad_for_names_and_all(sess: Sess) -> None:
    await sess.tensor("a", value=[1.0, 2.0], requires_grad=True)
    await sess.tensor("b", value=[3.0], requires_grad=True)
    nodes = [
        {"name": "s", "op": "sum", "args": ["a"]},
        {"name": "out", "op": "mul", "args": ["s", "b"]},
        {"name": "out", "op": "sum", "args": ["out"]},
    ]
    await sess.run(nodes)
    assert (await sess.backward("out")).status_code == 200
    assert await sess.grad("a") == [3.0, 3.0] and await sess.grad("b") == [3.0]
    r = await sess.post("/zero_grad", {"names": ["a"]})
    assert r.status_code == 204 and r.content == b""
    assert await sess.grad("a") is None
    assert await sess.grad("b") == [3.0]
    assert_problem(await sess.post("/zero_grad", {"names": ["nope"]}), 400, "unknown_name")
    assert await sess.grad("b") == [3.0]
    r = await sess.post("/zero_grad")
    assert r.status_code == 204
    assert await sess.grad("b") is None
    # set_to_none: the next backward starts fresh rather than accumulating
    await sess.run(nodes)
    await sess.backward("out")
    assert await sess.grad("a") == [3.0, 3.0]
    assert (await sess.post("/zero_grad", {})).status_code == 204
    assert await sess.grad("a") is None


async def test_large_values_round_trip(sess: Sess) -> None:
    values = np.linspace(-1, 1, 5000, dtype=np.float32).reshape(50, 100)
    await sess.tensor("x", value=values.tolist())
    got = np.array(await sess.data("x"), dtype=np.float32)
    np.testing.assert_array_equal(got, values)
    assert all(math.isfinite(v) for v in got.reshape(-1))
