"""backward, autograd.grad and the stateless /v1/grad (docs/api.md, Gradients, Stateless)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np
import pytest
from service_testkit import Sess, assert_problem, make_settings, serve, tutorial

pytestmark = pytest.mark.anyio

GRAPH_FREED = "Trying to backward through the graph a second time"


# ------------------------------------------------------------------------ backward
async def test_backward_reports_reached_named_leaves(sess: Sess) -> None:
    await sess.tensor("a", value=[1.0, 2.0], requires_grad=True)
    await sess.tensor("b", value=[3.0, 4.0], requires_grad=True)
    await sess.tensor("unused", value=[1.0], requires_grad=True)
    await sess.tensor("c", value=[10.0, 10.0])  # reached, but does not require grad
    await sess.run(
        [
            {"name": "ab", "op": "mul", "args": ["a", "b"]},
            {"name": "abc", "op": "add", "args": ["ab", "c"]},
            {"name": "out", "op": "sum", "args": ["abc"]},
        ]
    )
    r = await sess.backward("out")
    assert r.status_code == 200
    assert r.json() == {
        "grads": {
            "a": {"data": [3.0, 4.0], "dtype": "float32"},
            "b": {"data": [1.0, 2.0], "dtype": "float32"},
        }
    }
    assert await sess.grad("unused") is None
    assert await sess.grad("ab") is None  # non-leaf: no .grad


async def test_backward_of_a_leaf_itself(sess: Sess) -> None:
    await sess.tensor("s", value=3.0, requires_grad=True)
    r = await sess.backward("s")
    assert r.json()["grads"] == {"s": {"data": 1.0, "dtype": "float32"}}


async def test_backward_reports_a_leaf_under_each_of_its_names(sess: Sess) -> None:
    await sess.tensor("x", value=[2.0], requires_grad=True)
    await sess.run([{"name": "alias", "op": "add_", "args": ["x", 0]}], no_grad=True)
    await sess.run([{"name": "o", "op": "sum", "args": ["x"]}])
    r = await sess.backward("o")
    assert r.json()["grads"] == {
        "x": {"data": [1.0], "dtype": "float32"},
        "alias": {"data": [1.0], "dtype": "float32"},
    }


async def test_backward_with_inputs(sess: Sess) -> None:
    await sess.tensor("a", value=[1.0, 2.0], requires_grad=True)
    await sess.tensor("b", value=[3.0, 4.0], requires_grad=True)
    await sess.run(
        [
            {"name": "h", "op": "mul", "args": ["a", "b"]},
            {"name": "out", "op": "sum", "args": ["h"]},
        ]
    )
    r = await sess.backward("out", inputs=["b"], retain_graph=True)
    assert r.json() == {"grads": {"b": {"data": [1.0, 2.0], "dtype": "float32"}}}
    assert await sess.grad("a") is None
    # a non-leaf input gets its .grad, as torch's backward(inputs=[h])
    r = await sess.backward("out", inputs=["h", "a"])
    assert r.json()["grads"] == {
        "h": {"data": [1.0, 1.0], "dtype": "float32"},
        "a": {"data": [3.0, 4.0], "dtype": "float32"},
    }
    assert_problem(await sess.backward("out", inputs=["nope"]), 400, "unknown_name")


async def test_backward_return_grads_all_none_or_names(sess: Sess) -> None:
    await sess.tensor("a", value=[1.0, 2.0], requires_grad=True)
    await sess.tensor("b", value=[3.0, 4.0], requires_grad=True)
    await sess.run(
        [
            {"name": "h", "op": "mul", "args": ["a", "b"]},
            {"name": "out", "op": "sum", "args": ["h"]},
        ]
    )
    r = await sess.backward("out", retain_graph=True, return_grads="none")
    assert r.status_code == 200 and r.json() == {"grads": {}}
    assert await sess.grad("a") == [3.0, 4.0]  # kept on the server
    r = await sess.backward("out", retain_graph=True, return_grads=["b"])
    assert r.json() == {"grads": {"b": {"data": [2.0, 4.0], "dtype": "float32"}}}
    r = await sess.backward("out", retain_graph=True, return_grads="all")
    assert set(r.json()["grads"]) == {"a", "b"}
    # an unknown name is refused before anything accumulates
    assert_problem(await sess.backward("out", return_grads=["nope"]), 400, "unknown_name")
    assert await sess.grad("a") == [9.0, 12.0]
    assert_problem(await sess.backward("out", return_grads="some"), 422, "validation_error")


async def test_backward_gradient_as_tensordata_and_name(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, 2.0, 3.0], requires_grad=True)
    await sess.run([{"name": "y", "op": "mul", "args": ["x", 2]}])
    r = await sess.backward("y", gradient=[0.1, 1.0, 0.0001], retain_graph=True)
    assert r.json()["grads"]["x"]["data"] == [0.2, 2.0, 0.0002]
    await sess.post("/zero_grad")
    raw = np.array([1.0, 2.0, 3.0], "<f4").tobytes()
    b64 = {"b64": base64.b64encode(raw).decode(), "dtype": "float32", "shape": [3]}
    r = await sess.backward("y", gradient=b64, retain_graph=True)
    assert r.json()["grads"]["x"]["data"] == [2.0, 4.0, 6.0]
    await sess.post("/zero_grad")
    r = await sess.backward(
        "y", gradient={"data": [1, 1, 1], "dtype": "float64"}, retain_graph=True
    )
    assert r.json()["grads"]["x"] == {"data": [2.0, 2.0, 2.0], "dtype": "float32"}
    await sess.post("/zero_grad")
    await sess.tensor("g", value=[5.0, 0.0, -1.0])
    r = await sess.backward("y", gradient="g", retain_graph=True)
    assert r.json()["grads"]["x"]["data"] == [10.0, 0.0, -2.0]
    assert_problem(await sess.backward("y", gradient="nope"), 400, "unknown_name")
    assert_problem(await sess.backward("y", gradient=[1.0, 2.0]), 400, "shape_mismatch")


async def test_backward_encoding_b64(sess: Sess) -> None:
    await tutorial(sess)
    r = await sess.backward("out", encoding="b64")
    g = r.json()["grads"]["x"]
    assert g["dtype"] == "float32" and g["shape"] == [2, 2]
    np.testing.assert_array_equal(
        np.frombuffer(base64.b64decode(g["b64"]), "<f4"), np.full(4, 4.5, np.float32)
    )


async def test_retain_graph_accumulates_and_graph_freed(sess: Sess) -> None:
    await tutorial(sess)
    r = await sess.backward("out", retain_graph=True)
    assert r.json()["grads"]["x"]["data"] == [[4.5, 4.5], [4.5, 4.5]]
    r = await sess.backward("out")
    assert r.json()["grads"]["x"]["data"] == [[9.0, 9.0], [9.0, 9.0]]
    body = assert_problem(await sess.backward("out"), 409, "graph_freed")
    assert body["detail"].startswith(GRAPH_FREED)
    assert await sess.grad("x") == [[9.0, 9.0], [9.0, 9.0]]


async def test_graph_freed_only_when_a_saved_value_is_needed(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, 2.0], requires_grad=True)
    await sess.run(
        [{"name": "s", "op": "add", "args": ["x", 1]}, {"name": "o", "op": "sum", "args": ["s"]}]
    )
    await sess.backward("o")
    # add and sum save nothing: torch runs this second backward without complaint
    r = await sess.backward("o")
    assert r.status_code == 200
    assert r.json()["grads"]["x"]["data"] == [2.0, 2.0]


async def test_grad_requires_scalar(sess: Sess) -> None:
    await tutorial(sess)
    body = assert_problem(await sess.backward("y"), 400, "grad_requires_scalar")
    assert "grad can be implicitly created only for scalar outputs" in body["detail"]


async def test_does_not_require_grad_is_checked_first(sess: Sess) -> None:
    await sess.tensor("c", value=[1.0, 2.0])
    await sess.run([{"name": "d", "op": "mul", "args": ["c", 2]}])
    # non-scalar, no gradient, and a wrong gradient: does_not_require_grad still wins
    assert_problem(await sess.backward("d"), 400, "does_not_require_grad")
    assert_problem(await sess.backward("d", gradient=[1.0, 2.0, 3.0]), 400, "does_not_require_grad")
    assert_problem(await sess.backward("d", gradient="nope"), 400, "does_not_require_grad")
    assert_problem(await sess.backward("c", create_graph=True), 400, "does_not_require_grad")


async def test_backward_unknown_tensor(sess: Sess) -> None:
    assert_problem(await sess.backward("nope"), 400, "unknown_name")
    assert_problem(await sess.post("/backward", {}), 422, "validation_error")
    assert_problem(
        await sess.post("/backward", {"tensor": "x", "bogus": 1}), 422, "validation_error"
    )


async def test_create_graph_second_derivative(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, 2.0], requires_grad=True)
    await sess.run(
        [
            {"name": "c", "op": "pow", "args": ["x", 3]},
            {"name": "o", "op": "sum", "args": ["c"]},
        ]
    )
    r = await sess.backward("o", create_graph=True)
    assert r.json()["grads"]["x"]["data"] == [3.0, 12.0]
    t = await sess.run([{"name": "g", "op": "grad_of", "args": ["x"]}], **{"return": ["g"]})
    assert t["g"]["requires_grad"] is True and t["g"]["grad_fn"] is not None
    await sess.run([{"name": "gs", "op": "sum", "args": ["g"]}])
    r = await sess.post("/grad", {"outputs": ["gs"], "inputs": ["x"]})
    assert r.json()["grads"]["x"]["data"] == [6.0, 12.0]


async def test_modified_inplace_detail(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, 2.0], requires_grad=True)
    await sess.run(
        [
            {"name": "y", "op": "sigmoid", "args": ["x"]},
            {"name": "o", "op": "sum", "args": ["y"]},
            {"op": "mul_", "args": ["y", 2]},
        ]
    )
    body = assert_problem(await sess.backward("o"), 409, "modified_inplace")
    assert "is at version 1; expected version 0 instead" in body["detail"]


# -------------------------------------------------------------------------- grad
async def test_autograd_grad_binds_and_leaves_grad_untouched(sess: Sess) -> None:
    await tutorial(sess)
    r = await sess.post(
        "/grad", {"outputs": ["out"], "inputs": ["x"], "retain_graph": True, "bind": ["dx"]}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"grads": {"x": {"data": [[4.5, 4.5], [4.5, 4.5]], "dtype": "float32"}}}
    assert await sess.grad("x") is None
    dx = await sess.info("dx", include="data")
    assert dx["data"]["data"] == [[4.5, 4.5], [4.5, 4.5]]
    assert dx["requires_grad"] is False and dx["grad_fn"] is None
    r = await sess.post("/grad", {"outputs": ["out"], "inputs": ["y", "x"]})
    assert r.json()["grads"]["y"]["data"] == [[4.5, 4.5], [4.5, 4.5]]
    assert await sess.grad("x") is None
    r = await sess.post("/grad", {"outputs": ["out"], "inputs": ["x"]})
    assert_problem(r, 409, "graph_freed")


async def test_autograd_grad_hessian_vector_product(sess: Sess) -> None:
    await sess.tensor("x", value=[1.0, 2.0, 3.0], requires_grad=True)
    await sess.tensor("v", value=[1.0, 0.0, -1.0])
    await sess.run(
        [
            {"name": "c", "op": "pow", "args": ["x", 3]},
            {"name": "f", "op": "sum", "args": ["c"]},
        ]
    )
    r = await sess.post(
        "/grad", {"outputs": ["f"], "inputs": ["x"], "create_graph": True, "bind": ["g"]}
    )
    assert r.json()["grads"]["x"]["data"] == [3.0, 12.0, 27.0]
    g = await sess.info("g")
    assert g["requires_grad"] is True and g["grad_fn"] is not None
    await sess.run(
        [
            {"name": "gv", "op": "mul", "args": ["g", "v"]},
            {"name": "gvs", "op": "sum", "args": ["gv"]},
        ]
    )
    r = await sess.post(
        "/grad", {"outputs": ["gvs"], "inputs": ["x"], "bind": ["hv"], "retain_graph": True}
    )
    # H = diag(6x): Hv = [6, 0, -18]
    assert r.json()["grads"]["x"]["data"] == [6.0, 0.0, -18.0]
    assert await sess.data("hv") == [6.0, 0.0, -18.0]
    assert await sess.grad("x") is None
    # grad_outputs as a vector (vector-Jacobian product of g itself)
    r = await sess.post("/grad", {"outputs": ["g"], "inputs": ["x"], "grad_outputs": ["v"]})
    assert r.status_code == 200, r.text
    assert r.json()["grads"]["x"]["data"] == [6.0, 0.0, -18.0]
    r = await sess.post(
        "/grad", {"outputs": ["g"], "inputs": ["x"], "grad_outputs": [[1.0, 1.0, 1.0]]}
    )
    assert_problem(r, 409, "graph_freed")


async def test_autograd_grad_allow_unused(sess: Sess) -> None:
    await sess.tensor("a", value=[1.0], requires_grad=True)
    await sess.tensor("b", value=[1.0], requires_grad=True)
    await sess.run(
        [
            {"name": "o", "op": "sum", "args": [{"value": [0.0]}]},
            {"name": "o", "op": "sum", "args": ["a"]},
        ]
    )
    r = await sess.post("/grad", {"outputs": ["o"], "inputs": ["a", "b"], "retain_graph": True})
    body = assert_problem(r, 400, "invalid_argument")
    assert "allow_unused=True" in body["detail"]
    r = await sess.post(
        "/grad",
        {"outputs": ["o"], "inputs": ["a", "b"], "allow_unused": True, "bind": ["da", "db"]},
    )
    assert r.json() == {"grads": {"a": {"data": [1.0], "dtype": "float32"}, "b": None}}
    assert await sess.data("da") == [1.0]
    assert_problem(await sess.get("/tensors/db"), 404, "tensor_not_found")


async def test_autograd_grad_errors(sess: Sess) -> None:
    await tutorial(sess)
    await sess.tensor("c", value=[1.0])
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"outputs": ["out"], "inputs": ["c"]}, 400, "does_not_require_grad"),
        ({"outputs": ["c"], "inputs": ["x"]}, 400, "does_not_require_grad"),
        ({"outputs": ["y"], "inputs": ["x"]}, 400, "grad_requires_scalar"),
        ({"outputs": ["nope"], "inputs": ["x"]}, 400, "unknown_name"),
        ({"outputs": ["out"], "inputs": ["x"], "bind": ["a", "b"]}, 400, "invalid_argument"),
        (
            {"outputs": ["out"], "inputs": ["x"], "grad_outputs": [1.0, 2.0]},
            400,
            "invalid_argument",
        ),
        ({"outputs": [], "inputs": ["x"]}, 422, "validation_error"),
        ({"outputs": ["out"], "inputs": ["x"], "bind": ["..."]}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        assert_problem(await sess.post("/grad", body), status, code)
    assert_problem(await sess.get("/tensors/a"), 404, "tensor_not_found")
    # nothing above consumed the graph
    r = await sess.post("/grad", {"outputs": ["out"], "inputs": ["x"]})
    assert r.status_code == 200


# --------------------------------------------------------------------- stateless
async def test_stateless_grad(client: httpx.AsyncClient) -> None:
    body = {
        "inputs": {"x": {"value": [[1, 1], [1, 1]], "requires_grad": True}},
        "nodes": [
            {"name": "y", "op": "add", "args": ["x", 2]},
            {"name": "z", "op": "mul", "args": ["y", "y"]},
            {"name": "z", "op": "mul", "args": ["z", 3]},
            {"name": "out", "op": "mean", "args": ["z"]},
        ],
        "output": "out",
        "wrt": ["x"],
    }
    r = await client.post("/v1/grad", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "output": {"data": 27.0, "dtype": "float32"},
        "grads": {"x": {"data": [[4.5, 4.5], [4.5, 4.5]], "dtype": "float32"}},
    }


async def test_stateless_wrt_unused_gradient_and_encoding(client: httpx.AsyncClient) -> None:
    body = {
        "inputs": {
            "a": [1.0, 2.0],  # bare TensorData; wrt makes it require grad
            "b": {"value": {"data": [3.0, 4.0], "dtype": "float64"}},
            "u": {"value": [7.0], "requires_grad": True},
            "k": {"value": [1, 2]},
        },
        "nodes": [
            {"name": "p", "op": "mul", "args": ["a", "b"]},
            {"name": "q", "op": "add", "args": ["p", "k"]},
        ],
        "output": "q",
        "gradient": [1.0, 10.0],
        "wrt": ["a", "b", "u"],
    }
    r = await client.post("/v1/grad", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["output"] == {"data": [4.0, 10.0], "dtype": "float64"}
    assert out["grads"]["a"] == {"data": [3.0, 40.0], "dtype": "float32"}
    assert out["grads"]["b"] == {"data": [1.0, 20.0], "dtype": "float64"}
    assert out["grads"]["u"] is None
    r = await client.post("/v1/grad", json={**body, "encoding": "b64"})
    g = r.json()["grads"]["a"]
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(g["b64"]), "<f4"), [3.0, 40.0])
    assert r.json()["output"]["shape"] == [2]


async def test_stateless_without_wrt_and_with_constant_output(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/grad",
        json={
            "inputs": {"x": [1.0, 2.0]},
            "nodes": [{"name": "s", "op": "sum", "args": ["x"]}],
            "output": "s",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"output": {"data": 3.0, "dtype": "float32"}, "grads": {}}
    # the output does not depend on the wrt input at all: its gradient is null
    r = await client.post(
        "/v1/grad",
        json={
            "inputs": {"x": [1.0], "c": [2.0]},
            "nodes": [{"name": "s", "op": "sum", "args": ["c"]}],
            "output": "s",
            "wrt": ["x"],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["grads"] == {"x": None}
    # the output may be an input itself
    r = await client.post("/v1/grad", json={"inputs": {"x": 2.0}, "output": "x", "wrt": ["x"]})
    assert r.json() == {
        "output": {"data": 2.0, "dtype": "float32"},
        "grads": {"x": {"data": 1.0, "dtype": "float32"}},
    }


async def test_stateless_errors(client: httpx.AsyncClient) -> None:
    base: dict[str, Any] = {"inputs": {"x": [1.0, 2.0]}, "nodes": [], "output": "x", "wrt": ["x"]}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**base, "output": "nope"}, 400, "unknown_name"),
        ({**base, "wrt": ["nope"]}, 400, "unknown_name"),
        ({**base, "inputs": {"x": {"data": [1, 2], "dtype": "int64"}}}, 400, "invalid_argument"),
        ({**base, "nodes": [{"op": "frob", "args": ["x"]}]}, 400, "unknown_op"),
        ({**base, "gradient": [1.0]}, 400, "shape_mismatch"),
        ({**base, "output": None}, 422, "validation_error"),
        ({"inputs": {}}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        assert_problem(await client.post("/v1/grad", json=body), status, code)
    r = await client.post(
        "/v1/grad",
        json={
            **base,
            "nodes": [{"name": "o", "op": "neg", "args": ["x"]}, {"op": "add", "args": ["o", "z"]}],
        },
    )
    assert assert_problem(r, 400, "unknown_name")["node"] == 1
    r = await client.post("/v1/grad", json={**base, "output": "x", "wrt": ["x"], "gradient": None})
    assert_problem(r, 400, "grad_requires_scalar")


async def test_stateless_limits() -> None:
    async with serve(make_settings(max_nodes_per_request=3, max_tensor_elements=100)) as c:
        nodes = [{"op": "neg", "args": ["x"]}] * 4
        r = await c.post("/v1/grad", json={"inputs": {"x": [1.0]}, "nodes": nodes, "output": "x"})
        assert_problem(r, 413, "graph_too_large")
        r = await c.post("/v1/grad", json={"inputs": {"x": [0.0] * 101}, "output": "x"})
        assert_problem(r, 413, "tensor_too_large")
        r = await c.post(
            "/v1/grad",
            json={
                "inputs": {"x": [0.0] * 100},
                "nodes": [
                    {"name": "o", "op": "expand", "args": ["x"], "kwargs": {"size": [10**6, 100]}}
                ],
                "output": "o",
            },
        )
        body = assert_problem(r, 413, "tensor_too_large")
        assert body["node"] == 0


# ------------------------------------------------- backward and zero_grad as graph nodes
SGD_STEP = [
    {"name": "h", "op": "mul", "args": ["w", "x"]},
    {"name": "loss", "op": "sum", "args": ["h"]},
    {"op": "autograd.backward", "args": ["loss"]},
    {"name": "g", "op": "grad_of", "args": ["w"], "no_grad": True},
    {"name": "step", "op": "mul", "args": ["g", 0.5], "no_grad": True},
    {"op": "sub_", "args": ["w", "step"], "no_grad": True},
    {"op": "autograd.zero_grad", "args": ["w"]},
]


async def test_a_whole_sgd_step_is_one_graph_request(sess: Sess) -> None:
    await sess.tensor("w", value=[1.0, 2.0], requires_grad=True)
    await sess.tensor("x", value=[2.0, 4.0])
    tensors = await sess.run(SGD_STEP, **{"return": ["w", "h"]})
    assert tensors["h"]["requires_grad"] is True and tensors["h"]["grad_fn"] == "MulBackward0"
    assert await sess.data("w") == [0.0, 0.0]  # w - 0.5 * x
    assert await sess.grad("w") is None  # zero_grad ran last
    assert (await sess.info("step"))["requires_grad"] is False  # its node ran under no_grad
    # the same with the gradient given, and accumulation across two backward nodes
    nodes = [
        {"name": "h", "op": "mul", "args": ["w", "x"]},
        {
            "op": "autograd.backward",
            "args": ["h", {"value": {"data": [1.0, 1.0]}}],
            "kwargs": {"retain_graph": True},
        },
        {"op": "autograd.backward", "args": ["h", "x"]},
    ]
    await sess.run(nodes)
    assert await sess.grad("w") == [6.0, 20.0]  # x * 1 + x * x


async def test_backward_nodes_fail_atomically_with_torch_errors(sess: Sess) -> None:
    await sess.tensor("w", value=[1.0, 2.0], requires_grad=True)
    await sess.tensor("c", value=[1.0, 2.0])
    await sess.run(
        [
            {"name": "loss", "op": "sum", "args": ["w"]},
            {"op": "autograd.backward", "args": ["loss"]},
        ]
    )
    assert await sess.grad("w") == [1.0, 1.0]
    # a backward that ran, then a failing node: the .grad is as it was before the request
    bad = [
        {"name": "l2", "op": "mul", "args": ["w", 3.0]},
        {"op": "autograd.backward", "args": ["l2", {"value": {"data": [1.0, 1.0]}}]},
        {"op": "autograd.zero_grad", "args": ["w"]},
        {"op": "add", "args": ["w", "nope"]},
    ]
    body = assert_problem(await sess.graph(bad), 400, "unknown_name")
    assert body["node"] == 3
    assert await sess.grad("w") == [1.0, 1.0]
    body = assert_problem(
        await sess.graph([{"op": "autograd.backward", "args": ["c"]}]), 400, "does_not_require_grad"
    )
    assert body["node"] == 0
    nodes = [
        {"name": "s", "op": "mul", "args": ["w", "w"]},
        {"name": "t", "op": "sum", "args": ["s"]},
        {"op": "autograd.backward", "args": ["t"]},
        {"op": "autograd.backward", "args": ["t"]},
    ]
    body = assert_problem(await sess.graph(nodes), 409, "graph_freed")
    assert body["node"] == 3 and GRAPH_FREED in body["detail"]
    for node, why in [
        ({"op": "autograd.backward", "args": []}, "backward takes"),
        ({"op": "autograd.backward", "args": ["loss"], "kwargs": {"bogus": 1}}, "bogus"),
        ({"name": "x", "op": "autograd.zero_grad", "args": ["w"]}, "binds no name"),
    ]:
        body = assert_problem(await sess.graph([node]), 400, "invalid_argument")
        assert why in body["detail"]
    assert_problem(
        await sess.graph([{"op": "autograd.zero_grad", "args": ["nope"]}]), 400, "unknown_name"
    )
