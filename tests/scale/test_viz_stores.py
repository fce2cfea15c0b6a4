"""The pictures and the page's endpoints give the same answers on both stores: with Redis the
graph goes through the store between requests (freed nodes, aliases and all)."""

from __future__ import annotations

import pytest
from scale_kit import ASess, app_for, assert_problem

pytestmark = pytest.mark.anyio

TUTORIAL = [
    {"name": "y", "op": "add", "args": ["x", 2]},
    {"name": "z", "op": "mul", "args": ["y", "y"]},
    {"name": "z", "op": "mul", "args": ["z", 3]},
    {"name": "out", "op": "mean", "args": ["z"]},
]


async def test_graph_pictures_and_names_survive_the_store(store: str) -> None:
    async with app_for(store, max_picture_nodes=50) as client:
        s = await ASess.open(client)
        await s.create(name="x", fill="ones", shape=[2, 2], requires_grad=True)
        await s.run(TUTORIAL)
        before = (await s.request("GET", "/graph.dot")).text
        assert "MeanBackward0" in before and "(freed)" not in before
        await s.ok("POST", "/names", json={"names": {"result": "out", "leaf": "x"}})
        assert (await s.backward("result")).status_code == 200
        # the alias is the same tensor after a round trip through the store
        assert await s.grad("leaf") == [[4.5, 4.5], [4.5, 4.5]]
        after = (await s.request("GET", "/graph.dot", params={"saved": "true"})).text
        assert after.count("(freed)") == 4 and "orange" not in after
        assert "out, result" in after and "x, leaf" in after
        svg = await s.request("GET", "/graph.svg")
        assert svg.status_code == 200 and svg.text.count('class="node"') == 7
        rows = (await s.ok("GET", "/overview"))["tensors"]
        assert {r["name"]: r["has_grad"] for r in rows}["leaf"] is True
        shown = await s.ok("GET", "/tensors/leaf/repr")
        assert shown["grad"] == "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"
        assert_problem(
            await s.request("GET", "/graph.dot", params={"roots": "no"}), 400, "unknown_name"
        )
