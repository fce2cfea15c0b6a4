"""Stored templates and the session stores: a custom Function, a tensor hook and retain_grad
made in one request survive the store, and a later request's backward replays them. With
the Redis store the later request runs on a second replica, which has never seen the
session (a cold load: everything it replays was rebuilt from the stored records)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from scale_kit import ASess, app_for, assert_problem

pytestmark = pytest.mark.anyio

NODES: list[dict[str, Any]] = [
    {"name": "y", "op": "mul", "args": ["x", 3], "no_grad": True},
    {
        "op": "autograd.function",
        "args": ["x"],
        "kwargs": {
            "class": "Triple",
            "outputs": ["y"],
            "backward": {
                "inputs": ["g"],
                "nodes": [{"name": "d", "op": "mul", "args": ["g", 3]}],
                "outputs": ["d"],
            },
        },
    },
    {"name": "out", "op": "sum", "args": ["y"]},
]

# Two outputs (y1 = 2x, y2 = x*x/2), x saved, a capture c (ones): d = 2 g1 + g2 * x * c
TWO: list[dict[str, Any]] = [
    {"name": "y1", "op": "mul", "args": ["x", 2], "no_grad": True},
    {"name": "xx", "op": "mul", "args": ["x", "x"], "no_grad": True},
    {"name": "y2", "op": "mul", "args": ["xx", 0.5], "no_grad": True},
    {
        "op": "autograd.function",
        "args": ["x"],
        "kwargs": {
            "class": "Two",
            "outputs": ["y1", "y2"],
            "saved": ["x"],
            "captures": ["c"],
            "backward": {
                "inputs": ["g1", "g2", "sx", "c"],
                "nodes": [
                    {"name": "a", "op": "mul", "args": ["g1", 2]},
                    {"name": "b", "op": "mul", "args": ["g2", "sx"]},
                    {"name": "bc", "op": "mul", "args": ["b", "c"]},
                    {"name": "d", "op": "add", "args": ["a", "bc"]},
                ],
                "outputs": ["d"],
            },
        },
    },
    {"name": "s1", "op": "sum", "args": ["y1"]},
    {"name": "s2", "op": "sum", "args": ["y2"]},
    {"name": "out", "op": "add", "args": ["s1", "s2"]},
]


def hook(tensor: str, hid: str, factor: str) -> dict[str, Any]:
    """A hook on ``tensor`` that multiplies the gradient by the capture ``factor``."""
    return {
        "op": "autograd.register_hook",
        "args": [tensor],
        "kwargs": {
            "id": hid,
            "captures": [factor],
            "hook": {
                "inputs": ["g", "f"],
                "nodes": [{"name": "h", "op": "mul", "args": ["g", "f"]}],
                "outputs": ["h"],
            },
        },
    }


@contextlib.asynccontextmanager
async def replicas(store: str) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two replicas on ``store``: two apps on one Redis database; the memory store's one app
    twice (its sessions live in that process only)."""
    async with app_for(store) as a:
        if store == "memory":
            yield a, a
            return
        async with app_for(store) as b:
            yield a, b


async def test_function_then_backward_on_another_replica(store: str) -> None:
    async with replicas(store) as (a, b):
        s = await ASess.open(a)
        await s.create(name="x", value=[1.0, -2.0], requires_grad=True)
        await s.run(NODES)
        other = ASess(b, s.created)
        info = await other.info("y", include=None)
        assert info["grad_fn"] == "TripleBackward"
        assert (await other.backward("out")).status_code == 200
        assert await other.grad("x") == [3.0, 3.0]
        # and back on the first replica (its copy is stale: it reads the records again);
        # Triple saved nothing, so a second backward runs (as torch's does) and accumulates
        assert (await s.backward("out")).status_code == 200
        assert await s.grad("x") == [6.0, 6.0]


async def test_several_outputs_saved_and_captures_survive(store: str) -> None:
    async with replicas(store) as (a, b):
        s = await ASess.open(a)
        await s.create(name="x", value=[1.0, -2.0], requires_grad=True)
        await s.create(name="c", value=[1.0, 1.0])
        await s.run(TWO)
        other = ASess(b, s.created)
        assert (await other.info("y2", include=None))["grad_fn"] == "TwoBackward"
        r = await other.backward("out", retain_graph=True)
        assert r.status_code == 200, r.text
        assert await other.grad("x") == [3.0, 0.0]  # 2 + x
        # a second backward on the first replica accumulates
        assert (await s.backward("out")).status_code == 200
        assert await s.grad("x") == [6.0, 0.0]


async def test_hooks_and_retain_grad_survive(store: str) -> None:
    async with replicas(store) as (a, b):
        s = await ASess.open(a)
        await s.create(name="x", value=[1.0, -2.0], requires_grad=True)
        await s.create(name="f", value=[10.0, 10.0])
        await s.run(
            [
                {"name": "y", "op": "mul", "args": ["x", 2]},
                {"op": "autograd.retain_grad", "args": ["y"]},
                hook("y", "hy", "f"),
                hook("x", "hx", "f"),
                {"name": "out", "op": "sum", "args": ["y"]},
            ]
        )
        other = ASess(b, s.created)
        r = await other.backward("out", retain_graph=True)
        assert r.status_code == 200, r.text
        assert await other.grad("y") == [10.0, 10.0]  # hooked, then retained
        assert await other.grad("x") == [200.0, 200.0]  # y's hook, then x's
        # remove x's hook on the first replica; the second sees it gone
        await s.run([{"op": "autograd.remove_hook", "args": ["x"], "kwargs": {"id": "hx"}}])
        r = await other.backward("out")
        assert r.status_code == 200, r.text
        assert await other.grad("x") == [220.0, 220.0]  # 200 + 20: x's hook no longer runs


async def test_session_functional_with_a_template(store: str) -> None:
    async with app_for(store) as client:
        s = await ASess.open(client)
        await s.create(name="x", value=[1.0, -2.0], requires_grad=True)
        functional = {
            "fn": "vjp",
            "inputs": ["x"],
            "graph": {"inputs": ["x"], "nodes": NODES, "outputs": ["out"]},
            "bind": {"result": ["dx"]},
        }
        r = await s.post("/functional", functional)
        assert r.status_code == 200, r.text
        assert r.json()["result"][0]["data"]["data"] == [3.0, 3.0]
        assert (await s.value("dx")) == [3.0, 3.0]


async def test_a_bad_template_is_refused_on_each_store(store: str) -> None:
    async with replicas(store) as (a, b):
        s = await ASess.open(a)
        await s.create(name="x", value=[1.0, -2.0], requires_grad=True)
        bad = hook("x", "h", "nowhere")
        assert_problem(await s.graph([bad]), 400, "unknown_name")
        other = ASess(b, s.created)
        await other.run([{"name": "out", "op": "sum", "args": ["x"]}])
        assert (await other.backward("out")).status_code == 200
        assert await other.grad("x") == [1.0, 1.0]  # no hook was kept


async def test_what_cannot_be_stored_is_a_400_that_changes_nothing(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Redis store writes a session as data; a part of a graph with no data form (here a
    hook made so) fails the request with a 400, and the session stays as it was before it
    (this replica's copy, which ran the request, is dropped and read again)."""
    from service import templates

    async with app_for(redis_server.fresh_db()) as client:
        s = await ASess.open(client)
        await s.create(name="x", value=[1.0, -2.0], requires_grad=True)
        await s.create(name="f", value=[10.0, 10.0])
        monkeypatch.setattr(templates._Hook, "stored_form", None)
        r = await s.graph([{"name": "y", "op": "mul", "args": ["x", 2]}, hook("y", "h", "f")])
        detail = assert_problem(r, 400, "invalid_argument")["detail"]
        assert "cannot be stored" in detail and "hook" in detail
        assert_problem(await s.get("/tensors/y"), 404, "tensor_not_found")
        monkeypatch.undo()
        await s.run([{"name": "out", "op": "sum", "args": ["x"]}])
        assert (await s.backward("out")).status_code == 200
        assert await s.grad("x") == [1.0, 1.0]


async def test_double_backward_and_a_dirty_function_across_replicas(store: str) -> None:
    """A Function made on one replica, a create_graph backward through it on the other, the
    second derivative back on the first; and a Function marking its input dirty."""
    cube = {
        "inputs": ["g", "sx"],
        "nodes": [
            {"name": "sq", "op": "pow", "args": ["sx", 2]},
            {"name": "t", "op": "mul", "args": ["sq", 3]},
            {"name": "dx", "op": "mul", "args": ["t", "g"]},
        ],
        "outputs": ["dx"],
    }
    async with replicas(store) as (a, b):
        s = await ASess.open(a)
        await s.create(name="x", value=[1.0, 2.0], requires_grad=True)
        await s.run(
            [
                {"name": "c", "op": "pow", "args": ["x", 3], "no_grad": True},
                {
                    "op": "autograd.function",
                    "args": ["x"],
                    "kwargs": {"class": "Cube", "outputs": ["c"], "saved": ["x"], "backward": cube},
                },
                {"name": "s", "op": "sum", "args": ["c"]},
                # Twice marks its input (a non-leaf, doubled in place) dirty
                {"name": "h", "op": "mul", "args": ["x", 1]},
                {"name": "h", "op": "mul_", "args": ["h", 2], "no_grad": True},
                {
                    "op": "autograd.function",
                    "args": ["h"],
                    "kwargs": {
                        "class": "Twice",
                        "outputs": ["h"],
                        "dirty": ["h"],
                        "backward": {
                            "inputs": ["g"],
                            "nodes": [{"name": "d", "op": "mul", "args": ["g", 2]}],
                            "outputs": ["d"],
                        },
                    },
                },
                {"name": "hs", "op": "sum", "args": ["h"]},
            ]
        )
        other = ASess(b, s.created)
        assert (await other.info("h", include=None))["grad_fn"] == "TwiceBackward"
        r = await other.run(
            [
                {"op": "autograd.backward", "args": ["s"], "kwargs": {"create_graph": True}},
                {"name": "g", "op": "grad_of", "args": ["x"]},
                {"name": "gs", "op": "sum", "args": ["g"]},
            ],
            **{"return": ["g"], "include": ["data"]},
        )
        assert r["g"]["data"]["data"] == [3.0, 12.0] and r["g"]["grad_fn"] is not None
        got = await s.ok("POST", "/grad", json={"outputs": ["gs"], "inputs": ["x"]})
        assert got["grads"]["x"]["data"] == [6.0, 12.0]
        got = await other.ok("POST", "/grad", json={"outputs": ["hs"], "inputs": ["x"]})
        assert got["grads"]["x"]["data"] == [2.0, 2.0]
