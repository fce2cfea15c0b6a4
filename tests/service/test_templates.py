"""Stored templates on the wire (docs/api.md, "Stored templates"): ``autograd.function``,
``autograd.register_hook``/``remove_hook`` and ``autograd.retain_grad`` graph nodes against
real torch, and bad templates refused with a 4xx problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from service_testkit import Sess, assert_problem, make_settings, open_session, serve

pytestmark = pytest.mark.anyio

F64 = "float64"

# Affine: forward a * k + b * a (k = 3), saved (a, b); backward g * (3 + b), None, g * a
AFFINE_BACKWARD = {
    "inputs": ["g", "sa", "sb"],
    "nodes": [
        {"name": "kb", "op": "add", "args": ["sb", 3]},
        {"name": "ga", "op": "mul", "args": ["g", "kb"]},
        {"name": "gb", "op": "mul", "args": ["g", "sa"]},
    ],
    "outputs": ["ga", None, "gb"],
}


def affine_nodes(**kw: Any) -> list[dict[str, Any]]:
    return [
        {"name": "ak", "op": "mul", "args": ["a", 3], "no_grad": True},
        {"name": "ba", "op": "mul", "args": ["b", "a"], "no_grad": True},
        {"name": "y", "op": "add", "args": ["ak", "ba"], "no_grad": True},
        {
            "op": "autograd.function",
            "args": ["a", 3, "b"],
            "kwargs": {
                "class": "Affine",
                "outputs": ["y"],
                "saved": ["a", "b"],
                "backward": AFFINE_BACKWARD,
                **kw,
            },
        },
    ]


A = [[0.5, -1.0], [2.0, 0.25]]
B = [[1.5, 0.5], [-2.0, 1.0]]


async def leaves(s: Sess) -> None:
    await s.tensor("a", value={"data": A, "dtype": F64}, requires_grad=True)
    await s.tensor("b", value={"data": B, "dtype": F64}, requires_grad=True)


def torch_affine() -> tuple[Any, Any, Any]:
    class Affine(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: Any, k: Any, b: Any) -> Any:
            ctx.save_for_backward(a, b)
            return a * k + b * a

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            a, b = ctx.saved_tensors
            return g * (3 + b), None, g * a

    a = torch.tensor(A, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(B, dtype=torch.float64, requires_grad=True)
    return Affine.apply(a, 3, b), a, b


async def test_function_node_gives_torchs_grads_and_name(sess: Sess) -> None:
    await leaves(sess)
    nodes = [*affine_nodes(), {"name": "out", "op": "sum", "args": ["y"]}]
    r = await sess.run(nodes, **{"return": ["y", "out"]})
    assert r["y"]["grad_fn"] == "AffineBackward"
    assert r["y"]["requires_grad"] is True
    y, a, b = torch_affine()
    assert type(y.grad_fn).__name__ == "AffineBackward"
    y.sum().backward()
    assert (await sess.backward("out")).status_code == 200
    np.testing.assert_allclose(await sess.grad("a"), a.grad.numpy())
    np.testing.assert_allclose(await sess.grad("b"), b.grad.numpy())


async def test_function_backward_twice_is_refused_as_torch(sess: Sess) -> None:
    await leaves(sess)
    await sess.run([*affine_nodes(), {"name": "out", "op": "sum", "args": ["y"]}])
    assert (await sess.backward("out")).status_code == 200
    body = assert_problem(await sess.backward("out"), 409, "graph_freed")
    assert "second time" in body["detail"]


async def test_function_double_backward_through_the_template(sess: Sess) -> None:
    """create_graph: the template's ops are recorded, so a second derivative exists."""
    await sess.tensor("x", value={"data": [1.0, 2.0], "dtype": F64}, requires_grad=True)
    cube = {
        "inputs": ["g", "sx"],
        "nodes": [
            {"name": "sq", "op": "pow", "args": ["sx", 2]},
            {"name": "t", "op": "mul", "args": ["sq", 3]},
            {"name": "dx", "op": "mul", "args": ["t", "g"]},
        ],
        "outputs": ["dx"],
    }
    nodes = [
        {"name": "c", "op": "pow", "args": ["x", 3], "no_grad": True},
        {
            "op": "autograd.function",
            "args": ["x"],
            "kwargs": {"class": "Cube", "outputs": ["c"], "saved": ["x"], "backward": cube},
        },
        {"name": "s", "op": "sum", "args": ["c"]},
        {"op": "autograd.backward", "args": ["s"], "kwargs": {"create_graph": True}},
        {"name": "g", "op": "grad_of", "args": ["x"]},
        {"name": "gs", "op": "sum", "args": ["g"]},
    ]
    r = await sess.run(nodes, **{"return": ["g"], "include": ["data"]})
    assert r["g"]["data"]["data"] == [3.0, 12.0]
    assert r["g"]["grad_fn"] is not None
    got = await sess.ok("POST", "/grad", json={"outputs": ["gs"], "inputs": ["x"]})
    assert got["grads"]["x"]["data"] == [6.0, 12.0]


async def test_function_errors_of_the_backward_are_torchs(sess: Sess) -> None:
    await leaves(sess)
    wrong_count = {**AFFINE_BACKWARD, "outputs": ["ga"]}
    await sess.run(
        [*affine_nodes(backward=wrong_count), {"name": "out", "op": "sum", "args": ["y"]}]
    )
    body = assert_problem(await sess.backward("out"), 400, "invalid_argument")
    assert "returned an incorrect number of gradients (expected 3, got 1)" in body["detail"]
    bad_shape = {
        "inputs": ["g", "sa", "sb"],
        "nodes": [{"name": "w", "op": "sum", "args": ["g"], "kwargs": {"dim": 0}}],
        "outputs": ["w", None, None],
    }
    await sess.run([*affine_nodes(backward=bad_shape), {"name": "out", "op": "sum", "args": ["y"]}])
    body = assert_problem(await sess.backward("out"), 400, "shape_mismatch")
    assert "expected shape compatible with" in body["detail"]


async def test_function_saved_value_modified_in_place(sess: Sess) -> None:
    await leaves(sess)
    nodes = [
        {"name": "m", "op": "mul", "args": ["a", 1]},
        {"name": "sq", "op": "mul", "args": ["m", "m"], "no_grad": True},
        {
            "op": "autograd.function",
            "args": ["m"],
            "kwargs": {
                "class": "Square",
                "outputs": ["sq"],
                "saved": ["m"],
                "backward": {
                    "inputs": ["g", "sm"],
                    "nodes": [{"name": "d", "op": "mul", "args": ["g", "sm"]}],
                    "outputs": ["d"],
                },
            },
        },
        {"op": "add_", "args": ["m", 1]},
        {"name": "out", "op": "sum", "args": ["sq"]},
    ]
    await sess.run(nodes)
    body = assert_problem(await sess.backward("out"), 409, "modified_inplace")
    assert "modified by an inplace operation" in body["detail"]


async def test_function_node_is_atomic(sess: Sess) -> None:
    """A later failing node leaves the forward outputs without the Function's grad_fn."""
    await leaves(sess)
    await sess.run(affine_nodes()[:3])
    bad = [affine_nodes()[3], {"op": "nope", "args": ["y"]}]
    assert_problem(await sess.graph(bad), 400, "unknown_op")
    info = await sess.info("y")
    assert info["grad_fn"] is None and info["requires_grad"] is False


@pytest.mark.parametrize(
    ("change", "status", "code", "text"),
    [
        ({"class": "not a name"}, 400, "invalid_argument", "kwargs.class"),
        ({"bogus": 1}, 400, "invalid_argument", "kwargs.bogus"),
        ({"outputs": []}, 400, "invalid_argument", "kwargs.outputs"),
        ({"outputs": ["nowhere"]}, 400, "unknown_name", "nowhere"),
        ({"outputs": ["a"]}, 400, "invalid_argument", "must be marked dirty"),
        ({"dirty": ["b"]}, 400, "invalid_argument", "marked dirty must be an input"),
        ({"saved": ["a"]}, 400, "invalid_argument", "takes 3 inputs, 2 expected"),
        (
            {"backward": {**AFFINE_BACKWARD, "nodes": [{"name": "ga", "op": "nope", "args": []}]}},
            400,
            "unknown_op",
            "template node 0",
        ),
        (
            {
                "backward": {
                    **AFFINE_BACKWARD,
                    "nodes": [{"name": "ga", "op": "grad_of", "args": ["a"]}],
                }
            },
            400,
            "unknown_op",
            "grad_of",
        ),
        (  # a name used before it is bound: templates cannot have cycles
            {
                "backward": {
                    **AFFINE_BACKWARD,
                    "nodes": [
                        {"name": "ga", "op": "mul", "args": ["gb", 2]},
                        {"name": "gb", "op": "mul", "args": ["ga", 2]},
                    ],
                }
            },
            400,
            "unknown_name",
            "'gb' is not bound before it",
        ),
        (  # session tensors are reached through captures only
            {
                "backward": {
                    **AFFINE_BACKWARD,
                    "nodes": [{"name": "ga", "op": "mul", "args": ["a", 2]}],
                }
            },
            400,
            "unknown_name",
            "'a'",
        ),
        (
            {
                "backward": {
                    **AFFINE_BACKWARD,
                    "nodes": [*AFFINE_BACKWARD["nodes"], {"op": "mul_", "args": ["g", 2]}],
                }
            },
            400,
            "invalid_argument",
            "only the template's own tensors",
        ),
        (
            {"backward": {**AFFINE_BACKWARD, "outputs": ["zz", None, None]}},
            400,
            "unknown_name",
            "zz",
        ),
        ({"backward": {"inputs": ["g"], "nodes": []}}, 400, "invalid_argument", "outputs"),
        (
            {"backward": {"inputs": ["g", "g", "h"], "outputs": ["g", None, None]}},
            400,
            "invalid_argument",
            "repeat",
        ),
    ],
)
async def test_bad_function_nodes_are_4xx(
    sess: Sess, change: dict[str, Any], status: int, code: str, text: str
) -> None:
    await leaves(sess)
    nodes = affine_nodes(**change)
    if "class" in change:
        nodes[3]["kwargs"]["class"] = change["class"]
    body = assert_problem(await sess.graph(nodes), status, code)
    assert text in body["detail"], body["detail"]
    assert body["node"] == 3
    assert_problem(await sess.get("/tensors/y"), 404, "tensor_not_found")


async def test_templates_count_against_the_node_limit() -> None:
    async with serve(make_settings(max_nodes_per_request=6)) as client:
        s = await open_session(client)
        await leaves(s)
        body = assert_problem(await s.graph(affine_nodes()), 413, "graph_too_large")
        assert "7 nodes" in body["detail"]
        await s.delete()


async def test_function_node_binds_no_name(sess: Sess) -> None:
    await leaves(sess)
    nodes = affine_nodes()
    nodes[3]["name"] = "f"
    assert_problem(await sess.graph(nodes), 400, "invalid_argument")


# ------------------------------------------------------------------ hooks
HOOK_TIMES_10 = {
    "inputs": ["g"],
    "nodes": [{"name": "h", "op": "mul", "args": ["g", 10]}],
    "outputs": ["h"],
}


async def test_hook_replaces_the_gradient_and_is_removed(sess: Sess) -> None:
    await sess.tensor("x", value={"data": [1.0, 2.0], "dtype": F64}, requires_grad=True)
    reg = {
        "op": "autograd.register_hook",
        "args": ["y"],
        "kwargs": {"id": "h0", "hook": HOOK_TIMES_10},
    }
    nodes = [
        {"name": "y", "op": "mul", "args": ["x", "x"]},
        reg,
        {"name": "out", "op": "sum", "args": ["y"]},
        {"op": "autograd.backward", "args": ["out"], "kwargs": {"retain_graph": True}},
    ]
    await sess.run(nodes)
    assert await sess.grad("x") == [20.0, 40.0]
    await sess.run(
        [
            {"op": "autograd.remove_hook", "args": ["y"], "kwargs": {"id": "h0"}},
            {"op": "autograd.remove_hook", "args": ["y"], "kwargs": {"id": "h0"}},  # no-op
            {"op": "autograd.zero_grad", "args": ["x"]},
            {"op": "autograd.backward", "args": ["out"], "kwargs": {"retain_graph": True}},
        ]
    )
    assert await sess.grad("x") == [2.0, 4.0]


async def test_leaf_hook_with_a_capture_and_a_none_hook(sess: Sess) -> None:
    await sess.tensor("x", value={"data": [1.0, 2.0], "dtype": F64}, requires_grad=True)
    await sess.tensor("c", value={"data": [3.0, -1.0], "dtype": F64})
    scale = {
        "inputs": ["g", "k"],
        "nodes": [{"name": "h", "op": "mul", "args": ["g", "k"]}],
        "outputs": ["h"],
    }
    none = {
        "inputs": ["g"],
        "nodes": [{"name": "h", "op": "mul", "args": ["g", 0]}],
        "outputs": [None],
    }
    nodes = [
        {"op": "autograd.register_hook", "args": ["x"], "kwargs": {"id": "a", "hook": none}},
        {
            "op": "autograd.register_hook",
            "args": ["x"],
            "kwargs": {"id": "b", "hook": scale, "captures": ["c"]},
        },
        {"name": "out", "op": "sum", "args": ["x"]},
        {"op": "autograd.backward", "args": ["out"]},
    ]
    await sess.run(nodes)
    assert await sess.grad("x") == [3.0, -1.0]


async def test_retain_grad_node(sess: Sess) -> None:
    await sess.tensor("x", value={"data": [1.0, 2.0], "dtype": F64}, requires_grad=True)
    nodes = [
        {"name": "y", "op": "mul", "args": ["x", 2]},
        {"op": "autograd.retain_grad", "args": ["y"]},
        {"name": "z", "op": "mul", "args": ["y", "y"]},
        {"name": "out", "op": "sum", "args": ["z"]},
        {"op": "autograd.backward", "args": ["out"]},
    ]
    await sess.run(nodes)
    assert await sess.grad("y") == [4.0, 8.0]


async def test_hook_registration_is_atomic_and_checked(sess: Sess) -> None:
    await sess.tensor("x", value={"data": [1.0, 2.0], "dtype": F64}, requires_grad=True)
    reg = {
        "op": "autograd.register_hook",
        "args": ["x"],
        "kwargs": {"id": "h", "hook": HOOK_TIMES_10},
    }
    assert_problem(await sess.graph([reg, {"op": "nope", "args": []}]), 400, "unknown_op")
    await sess.run(
        [{"name": "out", "op": "sum", "args": ["x"]}, {"op": "autograd.backward", "args": ["out"]}]
    )
    assert await sess.grad("x") == [1.0, 1.0]  # the failed batch's hook is gone
    await sess.run([reg])
    body = assert_problem(await sess.graph([reg]), 400, "invalid_argument")
    assert "already registered" in body["detail"]
    two = {**HOOK_TIMES_10, "outputs": ["h", "h"]}
    bad = {"op": "autograd.register_hook", "args": ["x"], "kwargs": {"id": "k", "hook": two}}
    assert_problem(await sess.graph([bad]), 400, "invalid_argument")
    bad = {
        "op": "autograd.register_hook",
        "args": ["x", "x"],
        "kwargs": {"id": "k", "hook": HOOK_TIMES_10},
    }
    assert_problem(await sess.graph([bad]), 400, "invalid_argument")
    bad = {"op": "autograd.remove_hook", "args": ["x"], "kwargs": {}}
    assert_problem(await sess.graph([bad]), 400, "invalid_argument")
    bad = {
        "op": "autograd.register_hook",
        "args": ["x"],
        "kwargs": {"id": "k", "hook": HOOK_TIMES_10, "captures": ["nowhere"]},
    }
    assert_problem(await sess.graph([bad]), 400, "invalid_argument")
    await sess.tensor("i", value=[1, 2])
    bad = {
        "op": "autograd.register_hook",
        "args": ["i"],
        "kwargs": {"id": "k", "hook": HOOK_TIMES_10},
    }
    body = assert_problem(await sess.graph([bad]), 400, "invalid_argument")
    assert "doesn't require gradient" in body["detail"]


async def test_function_whose_traced_backward_raised(sess: Sess) -> None:
    """``error``: backward through the node fails, naming the client's token."""
    await leaves(sess)
    nodes = affine_nodes(
        error="e7", backward={**AFFINE_BACKWARD, "nodes": [], "outputs": [None] * 3}
    )
    await sess.run([*nodes, {"name": "out", "op": "sum", "args": ["y"]}])
    body = assert_problem(await sess.backward("out"), 400, "invalid_argument")
    assert body["function_error"] == "e7" and "AffineBackward" in body["detail"]
    assert await sess.grad("a") is None  # nothing accumulated


async def test_stateless_grad_and_functional_run_and_count_stored_templates() -> None:
    triple = {
        "op": "autograd.function",
        "args": ["x"],
        "kwargs": {
            "class": "Triple",
            "outputs": ["t"],
            "backward": {
                "inputs": ["g"],
                "nodes": [
                    {"name": "d", "op": "mul", "args": ["g", 3]},
                    {"name": "e", "op": "add", "args": ["d", 0]},
                ],
                "outputs": ["e"],
            },
        },
    }
    nodes = [
        {"name": "t", "op": "mul", "args": ["x", 3], "no_grad": True},
        triple,
        {"name": "out", "op": "sum", "args": ["t"]},
    ]
    body = {"inputs": {"x": [1.0, 2.0]}, "nodes": nodes, "output": "out", "wrt": ["x"]}
    functional = {
        "fn": "vjp",
        "inputs": [[1.0, 2.0]],
        "graph": {"inputs": ["x"], "nodes": nodes, "outputs": ["out"]},
    }
    async with serve(make_settings(max_nodes_per_request=5)) as client:
        r = await client.post("/v1/grad", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["grads"]["x"]["data"] == [3.0, 3.0]
        r = await client.post("/v1/functional", json=functional)
        assert r.status_code == 200, r.text
        assert r.json()["result"][0]["data"]["data"] == [3.0, 3.0]
    async with serve(make_settings(max_nodes_per_request=4)) as client:
        assert_problem(await client.post("/v1/grad", json=body), 413, "graph_too_large")
        r = await client.post("/v1/functional", json=functional)
        assert_problem(r, 413, "graph_too_large")
