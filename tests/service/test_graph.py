"""POST /graph: define-by-run nodes, return/include/free, no_grad, in-place, index, atomicity."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from service_testkit import TUTORIAL_NODES, Sess, assert_problem, tutorial

import engine
from service.executor import Executor, Node

pytestmark = pytest.mark.anyio


async def test_tutorial_four_nodes(sess: Sess) -> None:
    x = await sess.tensor("x", fill="ones", shape=[2, 2], requires_grad=True)
    assert x["requires_grad"] is True and x["is_leaf"] is True and x["grad_fn"] is None
    r = await sess.graph(TUTORIAL_NODES)
    assert r.status_code == 200, r.text
    t = r.json()["tensors"]
    assert list(t) == ["y", "z", "out"]
    assert t["y"]["grad_fn"] == "AddBackward0" and t["y"]["is_leaf"] is False
    assert t["z"]["grad_fn"] == "MulBackward0"
    assert t["out"]["grad_fn"] == "MeanBackward0" and t["out"]["shape"] == []
    for info in t.values():
        assert info["data"] is None and info["grad"] is None  # default: without data
        assert info["requires_grad"] is True
    assert await sess.data("y") == [[3.0, 3.0], [3.0, 3.0]]
    assert await sess.data("z") == [[27.0, 27.0], [27.0, 27.0]]
    assert await sess.data("out") == 27.0
    r = await sess.backward("out")
    assert r.json() == {"grads": {"x": {"data": [[4.5, 4.5], [4.5, 4.5]], "dtype": "float32"}}}


async def test_return_include_encoding(sess: Sess) -> None:
    await sess.tensor("x", fill="ones", shape=[2, 2], requires_grad=True)
    t = await sess.run(
        [
            *TUTORIAL_NODES,
            {"name": "s", "op": "sum", "args": ["z"], "kwargs": {"dim": 1, "keepdim": True}},
        ],
        include=["data"],
        **{"return": ["z", "out", "s", "x"]},
    )
    assert list(t) == ["z", "out", "s", "x"]
    assert t["z"]["data"] == {"data": [[27.0, 27.0], [27.0, 27.0]], "dtype": "float32"}
    assert t["out"]["data"] == {"data": 27.0, "dtype": "float32"}
    assert t["s"]["grad_fn"] == "SumBackward1" and t["s"]["shape"] == [2, 1]
    assert t["s"]["data"]["data"] == [[54.0], [54.0]]
    assert t["x"]["is_leaf"] is True and t["x"]["grad"] is None
    t = await sess.run([], include=["data"], encoding="b64", **{"return": ["z"]})
    td = t["z"]["data"]
    assert td["dtype"] == "float32" and td["shape"] == [2, 2]
    got = np.frombuffer(base64.b64decode(td["b64"]), "<f4").reshape(2, 2)
    np.testing.assert_array_equal(got, np.full((2, 2), 27, np.float32))
    t = await sess.run([], **{"return": []})
    assert t == {}


async def test_include_grad(sess: Sess) -> None:
    await tutorial(sess)
    await sess.backward("out")
    t = await sess.run([], include=["data", "grad"], **{"return": ["x", "y"]})
    assert t["x"]["grad"] == {"data": [[4.5, 4.5], [4.5, 4.5]], "dtype": "float32"}
    assert t["x"]["data"]["data"] == [[1.0, 1.0], [1.0, 1.0]]
    assert t["y"]["grad"] is None


async def test_include_without_return_applies_to_every_node(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, 2.0])
    t = await sess.run(
        [
            {"name": "a", "op": "mul", "args": ["x", 2]},
            {"op": "neg", "args": ["a"]},
            {"name": "b", "op": "add", "args": ["a", 1]},
            {"name": "a", "op": "sub", "args": ["b", 1]},
        ],
        include=["data"],
    )
    assert list(t) == ["a", "b"]
    assert t["a"]["data"]["data"] == [2.0, 4.0]
    assert t["b"]["data"]["data"] == [3.0, 5.0]


async def test_unnamed_nodes_are_temporaries(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0])
    t = await sess.run([{"op": "exp", "args": ["x"]}, {"op": "neg", "args": ["x"]}])
    assert t == {}
    names = [i["name"] for i in (await sess.get("/tensors")).json()["tensors"]]
    assert names == ["x"]


async def test_bad_include_or_encoding_is_422(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0])
    assert_problem(await sess.graph([], include=["values"]), 422, "validation_error")
    assert_problem(await sess.graph([], encoding="hex"), 422, "validation_error")
    assert_problem(await sess.graph([{"op": "neg"}], bogus=1), 422, "validation_error")
    r = await sess.graph([{"name": "...", "op": "neg", "args": ["x"]}])
    assert_problem(r, 422, "validation_error")


async def test_return_unknown_name(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0])
    r = await sess.graph([{"name": "y", "op": "neg", "args": ["x"]}], **{"return": ["nope"]})
    assert_problem(r, 400, "unknown_name")
    assert_problem(await sess.get("/tensors/y"), 404, "tensor_not_found")


async def test_free(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, 2.0], requires_grad=True)
    t = await sess.run(
        [
            {"name": "tmp1", "op": "mul", "args": ["x", 3]},
            {"name": "out", "op": "sum", "args": ["tmp1"]},
        ],
        free=["tmp1"],
        include=["data"],
    )
    assert t["tmp1"]["data"]["data"] == [3.0, 6.0]  # reported, then unbound
    assert_problem(await sess.get("/tensors/tmp1"), 404, "tensor_not_found")
    r = await sess.backward("out")
    assert r.json()["grads"] == {"x": {"data": [3.0, 3.0], "dtype": "float32"}}
    # freeing a session name with no nodes at all
    await sess.run([], free=["out"])
    assert_problem(await sess.get("/tensors/out"), 404, "tensor_not_found")
    r = await sess.graph([{"name": "k", "op": "neg", "args": ["x"]}], free=["nope"])
    assert_problem(r, 400, "unknown_name")
    assert_problem(await sess.get("/tensors/k"), 404, "tensor_not_found")


async def test_rebinding_keeps_old_tensor_for_graph(sess: Sess) -> None:
    await sess.tensor("x", value=[2.0], requires_grad=True)
    await sess.run([{"name": "a", "op": "mul", "args": ["x", "x"]}])
    await sess.run([{"name": "a", "op": "mul", "args": ["a", 3]}])  # a = a * 3
    await sess.run([{"name": "out", "op": "sum", "args": ["a"]}])
    r = await sess.backward("out")
    assert r.json()["grads"]["x"]["data"] == [12.0]


async def test_no_grad(sess: Sess) -> None:
    await sess.tensor("x", fill="ones", shape=[2, 2], requires_grad=True)
    t = await sess.run([{"name": "p", "op": "pow", "args": ["x", 2]}])
    assert t["p"]["requires_grad"] is True and t["p"]["grad_fn"] == "PowBackward0"
    t = await sess.run([{"name": "q", "op": "pow", "args": ["x", 2]}], no_grad=True)
    assert t["q"]["requires_grad"] is False and t["q"]["grad_fn"] is None
    assert t["q"]["is_leaf"] is True
    t = await sess.run([{"name": "r", "op": "pow", "args": ["x", 2]}])
    assert t["r"]["requires_grad"] is True  # grad mode is back on
    assert_problem(await sess.backward("q"), 400, "does_not_require_grad")


async def test_detach(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, -2.0], requires_grad=True)
    t = await sess.run(
        [
            {"name": "y", "op": "mul", "args": ["x", 2]},
            {"name": "d", "op": "detach", "args": ["y"]},
        ],
        include=["data"],
    )
    assert t["d"]["data"] == t["y"]["data"]
    assert t["d"]["requires_grad"] is False and t["d"]["grad_fn"] is None
    assert t["d"]["is_leaf"] is True
    t = await sess.run([{"name": "dx", "op": "detach", "args": ["x"]}], include=["data"])
    assert t["dx"]["data"]["data"] == [1.0, -2.0] and t["dx"]["requires_grad"] is False
    # gradient stops at detach
    await sess.run(
        [
            {"name": "m", "op": "mul", "args": ["d", "x"]},
            {"name": "o", "op": "sum", "args": ["m"]},
        ]
    )
    r = await sess.backward("o")
    assert r.json()["grads"]["x"]["data"] == [2.0, -4.0]


async def test_tutorial_define_by_run_loop(sess: Sess) -> None:
    await sess.tensor("x", fill="randn", shape=[3], requires_grad=True)
    await sess.run([{"name": "y", "op": "mul", "args": ["x", 2]}])
    k = 1
    while True:
        t = await sess.run(
            [{"name": "n", "op": "norm", "args": ["y"]}], no_grad=True, include=["data"], free=["n"]
        )
        if t["n"]["data"]["data"] >= 1000:
            break
        await sess.run([{"name": "y", "op": "mul", "args": ["y", 2]}])
        k += 1
    assert 5 < k < 40
    r = await sess.backward("y", gradient=[0.1, 1.0, 0.0001])
    assert r.status_code == 200, r.text
    grad = r.json()["grads"]["x"]["data"]
    expected = np.array([0.1, 1.0, 0.0001], np.float32) * np.float32(2.0**k)
    assert grad == [float(str(v)) for v in expected]


# ---------------------------------------------------------------------- args
async def test_inline_constants_and_scalars(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, 2.0], requires_grad=True)
    t = await sess.run(
        [
            {"name": "a", "op": "add", "args": ["x", {"value": [10, 20]}]},
            {"name": "b", "op": "mul", "args": ["a", {"value": {"data": 2, "dtype": "float64"}}]},
            {"name": "c", "op": "sub", "args": [1, "x"]},
            {"name": "d", "op": "add", "args": ["x", True]},
            {"name": "e", "op": "add", "args": [{"value": [1, 2]}, 2]},
            {"name": "f", "op": "add", "args": ["x", {"value": "inf"}]},
        ],
        include=["data"],
    )
    assert t["a"]["data"] == {"data": [11.0, 22.0], "dtype": "float32"}
    assert t["b"]["dtype"] == "float32"  # a 0-d tensor does not widen a tensor of its kind
    assert t["b"]["data"]["data"] == [22.0, 44.0]
    assert t["c"]["data"]["data"] == [0.0, -1.0] and t["c"]["grad_fn"] == "RsubBackward1"
    assert t["d"]["data"]["data"] == [2.0, 3.0]
    assert t["e"]["data"] == {"data": [3, 4], "dtype": "int64"}
    assert t["e"]["requires_grad"] is False
    assert t["f"]["data"]["data"] == ["inf", "inf"]
    r = await sess.graph([{"op": "add", "args": ["x", {"val": 1}]}])
    assert_problem(r, 400, "invalid_argument")


async def test_type_promotion(sess: Sess) -> None:
    await sess.tensor("f", value=[1.0])
    await sess.tensor("i", value=[1])
    await sess.tensor("h", value=[1.0], dtype="float16")
    await sess.tensor("d0", value={"data": 2.0, "dtype": "float64"})
    await sess.tensor("d", value={"data": [2.0], "dtype": "float64"})
    await sess.tensor("b", value=[True])
    t = await sess.run(
        [
            {"name": "f_s", "op": "add", "args": ["f", 2.5]},
            {"name": "i_s", "op": "add", "args": ["i", 2.5]},
            {"name": "i_i", "op": "add", "args": ["i", 2]},
            {"name": "i_f", "op": "mul", "args": ["i", "f"]},
            {"name": "h_f", "op": "add", "args": ["h", "f"]},
            {"name": "f_d0", "op": "add", "args": ["f", "d0"]},
            {"name": "f_d", "op": "add", "args": ["f", "d"]},
            {"name": "i_div", "op": "div", "args": ["i", 2]},
            {"name": "b_b", "op": "add", "args": ["b", "b"]},
            {"name": "b_i", "op": "add", "args": ["b", 1]},
            {"name": "cmp", "op": "lt", "args": ["f", "i"]},
        ]
    )
    dtypes = {n: v["dtype"] for n, v in t.items()}
    assert dtypes == {
        "f_s": "float32",
        "i_s": "float32",
        "i_i": "int64",
        "i_f": "float32",
        "h_f": "float32",
        "f_d0": "float32",
        "f_d": "float64",
        "i_div": "float32",
        "b_b": "bool",
        "b_i": "int64",
        "cmp": "bool",
    }


async def test_cat_and_stack_take_lists(sess: Sess) -> None:
    await sess.tensor("a", value=[[1.0, 2.0]], requires_grad=True)
    await sess.tensor("b", value=[[3.0, 4.0]], requires_grad=True)
    t = await sess.run(
        [
            {"name": "c0", "op": "cat", "args": [["a", "b"]], "kwargs": {"dim": 0}},
            {
                "name": "c1",
                "op": "cat",
                "args": [["a", "b", {"value": [[5.0]]}]],
                "kwargs": {"dim": 1},
            },
            {"name": "s", "op": "stack", "args": [["a", "b"]]},
            {"name": "s2", "op": "stack", "args": [["a", "b"]], "kwargs": {"dim": 2}},
        ],
        include=["data"],
    )
    assert t["c0"]["shape"] == [2, 2] and t["c0"]["grad_fn"] == "CatBackward0"
    assert t["c0"]["data"]["data"] == [[1.0, 2.0], [3.0, 4.0]]
    assert t["c1"]["data"]["data"] == [[1.0, 2.0, 3.0, 4.0, 5.0]]
    assert t["s"]["shape"] == [2, 1, 2] and t["s"]["grad_fn"] == "StackBackward0"
    assert t["s2"]["shape"] == [1, 2, 2]
    await sess.run(
        [
            {"name": "w", "op": "mul", "args": ["c1", {"value": [[1.0, 2.0, 3.0, 4.0, 5.0]]}]},
            {"name": "o", "op": "sum", "args": ["w"]},
        ]
    )
    g = (await sess.backward("o")).json()["grads"]
    assert g["a"]["data"] == [[1.0, 2.0]] and g["b"]["data"] == [[3.0, 4.0]]
    r = await sess.graph([{"op": "cat", "args": [["a", {"value": [[1.0, 2.0, 3.0]]}]]}])
    assert_problem(r, 400, "shape_mismatch")


# --------------------------------------------------------------------- index
async def test_index_every_item_kind(sess: Sess) -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    await sess.tensor("x", value=x.tolist(), requires_grad=True)
    await sess.tensor("ii", value=[2, 0])
    await sess.tensor("mask", value=[True, False, True])
    cases: list[tuple[list[Any], Any, str]] = [
        ([1], x[1], "SelectBackward0"),
        ([-1, 2], x[-1, 2], "SelectBackward0"),
        ([{"slice": [0, 2, None]}], x[0:2], "SliceBackward0"),
        ([{"slice": [None, None, 2]}], x[::2], "SliceBackward0"),
        (
            [{"slice": [1, None, None]}, {"slice": [None, None, -1 + 2]}],
            x[1:, ::1],
            "SliceBackward0",
        ),
        (["...", 0], x[..., 0], "SelectBackward0"),
        (["..."], x[...], "AliasBackward0"),
        ([None], x[None], "UnsqueezeBackward0"),
        ([0, None, 1], x[0, None, 1], "SelectBackward0"),
        ([{"array": [1, 0]}], x[[1, 0]], "IndexBackward0"),
        ([0, {"array": [True, False, True]}], x[0, [True, False, True]], "IndexBackward0"),
        ([0, "ii"], x[0, [2, 0]], "IndexBackward0"),
        ([1, "mask"], x[1, np.array([True, False, True])], "IndexBackward0"),
        (
            [{"slice": [None, None, None]}, 1, {"slice": [1, 3, None]}],
            x[:, 1, 1:3],
            "SliceBackward0",
        ),
    ]
    for i, (index, expected, grad_fn) in enumerate(cases):
        t = await sess.run(
            [{"name": f"r{i}", "op": "index", "args": ["x"], "kwargs": {"index": index}}],
            include=["data"],
        )
        info = t[f"r{i}"]
        assert info["shape"] == list(expected.shape), (index, info)
        assert info["data"]["data"] == expected.tolist(), index
        assert info["grad_fn"] == grad_fn, (index, info["grad_fn"])
    # gradient flows back through indexing (scatter-add of repeated indices)
    await sess.run(
        [
            {
                "name": "g",
                "op": "index",
                "args": ["x"],
                "kwargs": {"index": [0, 0, {"array": [1, 1, 3]}]},
            },
            {"name": "o", "op": "sum", "args": ["g"]},
        ]
    )
    grad = np.array((await sess.backward("o")).json()["grads"]["x"]["data"])
    expected_grad = np.zeros_like(x)
    expected_grad[0, 0, 1] = 2
    expected_grad[0, 0, 3] = 1
    np.testing.assert_array_equal(grad, expected_grad)


@pytest.mark.parametrize(
    ("index", "code"),
    [
        ([5], "invalid_argument"),
        ([{"array": [0, 9]}], "invalid_argument"),
        (["f"], "invalid_argument"),
        (["nope"], "unknown_name"),
        ([{"slice": [0, 1, 0]}], "invalid_argument"),
        ([0, 0, 0], "invalid_argument"),
        ([{"bogus": 1}], "invalid_argument"),
    ],
)
async def test_index_errors(sess: Sess, index: list[Any], code: str) -> None:
    await sess.tensor("x", value=[[1.0, 2.0], [3.0, 4.0]])
    await sess.tensor("f", value=[0.5])
    r = await sess.graph(
        [
            {"name": "ok", "op": "neg", "args": ["x"]},
            {"name": "r", "op": "index", "args": ["x"], "kwargs": {"index": index}},
        ]
    )
    body = assert_problem(r, 400, code)
    assert body["node"] == 1
    assert_problem(await sess.get("/tensors/ok"), 404, "tensor_not_found")


# ------------------------------------------------------------------- in place
async def test_inplace_ops(sess: Sess) -> None:
    await sess.tensor("a", value=[1.0, 2.0, 3.0])
    await sess.tensor("b", value=[10.0, 20.0, 30.0])
    steps: list[tuple[dict[str, Any], list[float]]] = [
        ({"op": "add_", "args": ["a", 1]}, [2.0, 3.0, 4.0]),
        ({"op": "add_", "args": ["a", "b"], "kwargs": {"alpha": 0.5}}, [7.0, 13.0, 19.0]),
        ({"op": "sub_", "args": ["a", {"value": [1.0, 1.0, 1.0]}]}, [6.0, 12.0, 18.0]),
        ({"op": "mul_", "args": ["a", 2]}, [12.0, 24.0, 36.0]),
        ({"op": "div_", "args": ["a", "b"]}, [1.2, 1.2, 1.2]),
        ({"op": "copy_", "args": ["a", "b"]}, [10.0, 20.0, 30.0]),
        ({"op": "zero_", "args": ["a"]}, [0.0, 0.0, 0.0]),
    ]
    for version, (node, expected) in enumerate(steps, start=1):
        await sess.run([node])
        got = await sess.data("a")
        assert got == [float(str(np.float32(v))) for v in expected], node
        assert (await sess.info("a"))["version"] == version
    assert await sess.data("b") == [10.0, 20.0, 30.0]
    # a name on an in-place op binds the same tensor; the in-place op rebinds nothing else
    await sess.run([{"name": "same", "op": "add_", "args": ["a", 5]}])
    await sess.run([{"op": "add_", "args": ["same", 1]}])
    assert await sess.data("a") == [6.0, 6.0, 6.0]
    assert await sess.data("same") == [6.0, 6.0, 6.0]
    # an in-place result must keep the target's shape and dtype
    r = await sess.graph([{"op": "add_", "args": ["a", {"value": [[1.0], [2.0]]}]}])
    assert_problem(r, 400, "shape_mismatch")
    await sess.tensor("i", value=[1, 2, 3])
    r = await sess.graph([{"op": "mul_", "args": ["i", 1.5]}])
    assert r.status_code == 400, r.text
    assert await sess.data("i") == [1, 2, 3]


async def test_inplace_on_leaf_requires_no_grad(sess: Sess) -> None:
    await sess.tensor("w", value=[1.0, 2.0], requires_grad=True)
    r = await sess.graph([{"op": "mul_", "args": ["w", 2]}])
    body = assert_problem(r, 400, "leaf_inplace")
    assert body["node"] == 0
    assert "leaf Variable that requires grad" in body["detail"]
    info = await sess.info("w", include="data")
    assert info["data"]["data"] == [1.0, 2.0] and info["version"] == 0
    t = await sess.run(
        [{"name": "w2", "op": "mul_", "args": ["w", 2]}], no_grad=True, include=["data"]
    )
    assert t["w2"]["data"]["data"] == [2.0, 4.0]
    info = await sess.info("w", include="data")
    assert info["data"]["data"] == [2.0, 4.0] and info["version"] == 1
    assert info["requires_grad"] is True and info["is_leaf"] is True


async def test_inplace_on_non_leaf_records_graph(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, 2.0], requires_grad=True)
    t = await sess.run(
        [
            {"name": "y", "op": "mul", "args": ["x", 1]},
            {"op": "mul_", "args": ["y", 3]},
            {"name": "o", "op": "sum", "args": ["y"]},
        ],
        **{"return": ["y"]},
    )
    assert t["y"]["grad_fn"] == "MulBackward0" and t["y"]["version"] == 1
    assert (await sess.backward("o")).json()["grads"]["x"]["data"] == [3.0, 3.0]


async def test_sgd_step_in_one_no_grad_request(sess: Sess) -> None:
    await sess.tensor("w", value=[1.0, -2.0], requires_grad=True)
    await sess.tensor("t", value=[0.0, 0.0])
    forward = [
        {"name": "d", "op": "sub", "args": ["w", "t"]},
        {"name": "loss", "op": "mse_loss", "args": ["w", "t"], "kwargs": {"reduction": "sum"}},
    ]
    await sess.run(forward)
    g = (await sess.backward("loss")).json()["grads"]["w"]["data"]
    assert g == [2.0, -4.0]
    step = [
        {"name": "g", "op": "grad_of", "args": ["w"]},
        {"name": "upd", "op": "mul", "args": ["g", 0.25]},
        {"op": "sub_", "args": ["w", "upd"]},
    ]
    t = await sess.run(step, no_grad=True, free=["g", "upd"], **{"return": ["w"]})
    assert t["w"]["requires_grad"] is True and t["w"]["is_leaf"] is True
    assert await sess.data("w") == [0.5, -1.0]
    assert await sess.grad("w") == [2.0, -4.0]  # grad_of read the grad, it did not change it
    assert (await sess.post("/zero_grad", {"names": ["w"]})).status_code == 204
    await sess.run(forward)
    assert (await sess.backward("loss")).json()["grads"]["w"]["data"] == [1.0, -2.0]
    # grad_of with no grad is 400 invalid_argument; it never creates one
    await sess.post("/zero_grad", {"names": ["w"]})
    r = await sess.graph(step, no_grad=True)
    body = assert_problem(r, 400, "invalid_argument")
    assert body["node"] == 0
    assert await sess.data("w") == [0.5, -1.0]


async def test_modified_inplace_then_backward_is_409(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, 2.0], requires_grad=True)
    await sess.run(
        [
            {"name": "y", "op": "exp", "args": ["x"]},  # exp saves its output
            {"name": "o", "op": "sum", "args": ["y"]},
            {"op": "add_", "args": ["y", 1]},
        ]
    )
    body = assert_problem(await sess.backward("o"), 409, "modified_inplace")
    assert "modified by an inplace operation" in body["detail"]
    assert await sess.grad("x") is None


# ----------------------------------------------------------------- atomicity
async def _state(s: Sess) -> dict[str, Any]:
    listed = (await s.get("/tensors")).json()["tensors"]
    out = {}
    for t in listed:
        out[t["name"]] = await s.info(t["name"], include="data,grad")
    return out


@pytest.mark.parametrize(
    ("bad", "status", "code"),
    [
        ({"op": "frobnicate", "args": ["x"]}, 400, "unknown_op"),
        ({"op": "add", "args": ["x", "nope"]}, 400, "unknown_name"),
        ({"op": "matmul", "args": ["x", {"value": [1.0, 2.0, 3.0]}]}, 400, "shape_mismatch"),
        ({"op": "add", "args": ["x", {"value": [1.0, 2.0, 3.0]}]}, 400, "shape_mismatch"),
        ({"op": "sum", "args": ["x"], "kwargs": {"dim": 5}}, 400, "invalid_argument"),
        ({"op": "sum", "args": ["x"], "kwargs": {"bogus": 1}}, 400, "invalid_argument"),
        ({"op": "mul_", "args": ["w", 2]}, 400, "leaf_inplace"),
        ({"op": "grad_of", "args": ["y0"]}, 400, "invalid_argument"),
    ],
)
async def test_failing_node_changes_nothing(
    sess: Sess, bad: dict[str, Any], status: int, code: str
) -> None:
    await sess.tensor("x", value=[[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    await sess.tensor("w", value=[1.0, 2.0], requires_grad=True)
    await sess.tensor("c", value=[5.0, 6.0])
    await sess.run(
        [{"name": "y0", "op": "mul", "args": ["x", 2]}, {"name": "o0", "op": "sum", "args": ["y0"]}]
    )
    await sess.backward("o0", retain_graph=True)
    before = await _state(sess)
    nodes = [
        {"name": "y0", "op": "add", "args": ["x", 100]},  # rebinds an existing name
        {"name": "fresh", "op": "neg", "args": ["x"]},  # binds a new name
        {"op": "add_", "args": ["c", 1]},  # changes a value and a version
        {"name": "x", "op": "mul", "args": ["x", 0]},  # rebinds a leaf
        {"op": "mul_", "args": ["c", 3]},  # two in-place ops on one tensor
        bad,
        {"name": "after", "op": "neg", "args": ["x"]},
    ]
    r = await sess.graph(nodes, no_grad=False)
    body = assert_problem(r, status, code)
    assert body["node"] == 5
    assert await _state(sess) == before
    # the session still works, and the old graph is intact
    r = await sess.backward("o0")
    assert r.json()["grads"]["x"]["data"] == [[4.0, 4.0], [4.0, 4.0]]


async def test_failing_no_grad_request_rolls_back_leaf_updates(sess: Sess) -> None:
    await sess.tensor("w", value=[1.0, 2.0], requires_grad=True)
    await sess.tensor("b", value=[0.5], requires_grad=True)
    await sess.run([{"name": "o", "op": "sum", "args": ["w"]}])
    await sess.backward("o")
    before = await _state(sess)
    r = await sess.graph(
        [
            {"op": "sub_", "args": ["w", {"value": [0.1, 0.1]}]},
            {"op": "zero_", "args": ["b"]},
            {"op": "sub_", "args": ["w", "missing"]},
        ],
        no_grad=True,
    )
    assert assert_problem(r, 400, "unknown_name")["node"] == 2
    assert await _state(sess) == before


async def test_unknown_op_is_400_not_422(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0])
    for op in ("frobnicate", "", "ADD", "__add__", "_grad_of", "backward"):
        r = await sess.graph([{"op": op, "args": ["x"]}])
        body = assert_problem(r, 400, "unknown_op")
        assert body["node"] == 0


async def test_unknown_name_carries_node(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0])
    r = await sess.graph(
        [
            {"name": "a", "op": "neg", "args": ["x"]},
            {"name": "b", "op": "neg", "args": ["a"]},
            {"name": "c", "op": "add", "args": ["b", "ghost"]},
        ]
    )
    body = assert_problem(r, 400, "unknown_name")
    assert body["node"] == 2 and "ghost" in body["detail"]
    for n in ("a", "b", "c"):
        assert_problem(await sess.get(f"/tensors/{n}"), 404, "tensor_not_found")


async def test_compact_nodes_run_as_objects_do(sess: Sess) -> None:
    """``[name, op, args, kwargs?, no_grad?]``: the same request as the object form, and the
    two forms mix in one request."""
    await sess.tensor("x", fill="ones", shape=[2, 2], requires_grad=True)
    compact: list[Any] = [
        ["y", "add", ["x", 2]],
        ["z", "mul", ["y", "y"], {}],
        {"name": "z", "op": "mul", "args": ["z", 3]},
        ["s", "sum", ["z"], {"dim": 1, "keepdim": True}],
        ["d", "detach", ["z"], {}, True],
        [None, "mean", ["z"]],
    ]
    t = await sess.run(compact, include=["data"])  # type: ignore[arg-type]
    assert list(t) == ["y", "z", "s", "d"]
    assert t["z"]["grad_fn"] == "MulBackward0"
    assert t["z"]["data"]["data"] == [[27.0, 27.0], [27.0, 27.0]]
    assert t["s"]["grad_fn"] == "SumBackward1" and t["s"]["data"]["data"] == [[54.0], [54.0]]
    assert t["d"]["requires_grad"] is False
    await sess.run([["o", "mean", ["z"]], [None, "autograd.backward", ["o"]]])  # type: ignore[list-item]
    assert (await sess.info("x", "grad"))["grad"]["data"] == [[4.5, 4.5], [4.5, 4.5]]


@pytest.mark.parametrize(
    "node",
    [
        ["y", "add"],  # too short
        ["y", "add", ["x", 2], {}, None, "extra"],  # too long
        ["not a name", "add", ["x", 2]],
        ["y\n", "add", ["x", 2]],
        [3, "add", ["x", 2]],
        ["y", None, ["x", 2]],
        ["y", "add", "x"],
        ["y", "add", ["x", 2], None],
        ["y", "add", ["x", 2], {}, "maybe"],
        "y = x + 2",
    ],
)
async def test_compact_nodes_are_checked_strictly(sess: Sess, node: Any) -> None:
    await sess.tensor("x", value=[1.0])
    r = await sess.graph([["ok", "neg", ["x"]], node])
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"] and all(e["loc"][:3] == ["body", "nodes", 1] for e in body["errors"])
    assert_problem(await sess.get("/tensors/ok"), 404, "tensor_not_found")


async def test_compact_node_errors_carry_the_node(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0])
    r = await sess.graph([["a", "neg", ["x"]], ["b", "frobnicate", ["a"]]])
    assert assert_problem(r, 400, "unknown_op")["node"] == 1
    r = await sess.graph([["a", "neg", ["x"]], [None, "add", ["a", "ghost"]]])
    assert assert_problem(r, 400, "unknown_name")["node"] == 1
    r = await sess.graph([["a", "neg", ["x"]], ["b", "mul", ["a", "a"], {"bogus": 1}]])
    assert assert_problem(r, 400, "invalid_argument")["node"] == 1


@pytest.mark.parametrize("request_no_grad", [False, True])
async def test_each_node_runs_in_its_own_grad_mode(sess: Sess, request_no_grad: bool) -> None:
    """A node's ``no_grad`` holds for that node alone, in any order of modes; the others run in
    the request's mode."""
    await sess.tensor("x", value=[1.0, 2.0], requires_grad=True)
    modes = [None, True, True, None, False, None, True, False, None]
    nodes = [[f"n{i}", "mul", ["x", i + 2], {}, m] for i, m in enumerate(modes)]
    t = await sess.run(nodes, no_grad=request_no_grad)  # type: ignore[arg-type]
    for i, m in enumerate(modes):
        records = not (request_no_grad if m is None else m)
        assert t[f"n{i}"]["requires_grad"] is records, (i, m)
        assert t[f"n{i}"]["grad_fn"] == ("MulBackward0" if records else None), (i, m)


def test_the_grad_mode_of_the_thread_is_back_after_a_request() -> None:
    x = engine.tensor([1.0], requires_grad=True)
    for fails in (False, True):
        nodes = [Node("a", "mul", ["x", 2], {}, True), Node("b", "mul", ["x", 3], {}, False)]
        if fails:
            nodes.append(Node("c", "add", ["a", "ghost"], {}, True))
        for outer in (True, False):
            with engine.set_grad_enabled(outer):
                ex = Executor({"x": x}, 1 << 20, np)
                try:
                    ex.run(nodes, no_grad=False)
                except Exception:
                    assert fails
                assert engine.is_grad_enabled() is outer
