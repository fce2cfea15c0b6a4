"""Stored templates and the session stores: the memory store keeps them; the Redis store
cannot yet, and says so with a 400 before anything runs (never a 200 whose work is lost)."""

from __future__ import annotations

from typing import Any

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
HOOK = {
    "op": "autograd.register_hook",
    "args": ["x"],
    "kwargs": {"id": "h", "hook": {"inputs": ["g"], "outputs": ["g"]}},
}


async def test_templates_on_each_store(store: str) -> None:
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
        if store == "memory":
            assert r.status_code == 200, r.text
            assert r.json()["result"][0]["data"]["data"] == [3.0, 3.0]
            await s.run(NODES)
            assert (await s.backward("out")).status_code == 200
            assert await s.grad("x") == [3.0, 3.0]
            return
        assert (
            "cannot keep stored templates" in assert_problem(r, 400, "invalid_argument")["detail"]
        )
        for nodes, at in (
            (NODES, 1),
            ([HOOK], 0),
            ([{"op": "autograd.retain_grad", "args": ["x"]}], 0),
        ):
            body = assert_problem(await s.graph(nodes), 400, "invalid_argument")
            assert "cannot keep stored templates" in body["detail"] and body["node"] == at
        assert_problem(await s.get("/tensors/y"), 404, "tensor_not_found")
