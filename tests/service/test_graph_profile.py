"""POST /graph with ``"profile": true``: per-op events and per-node times; off by default."""

from __future__ import annotations

from typing import Any

import pytest
from service_testkit import Sess, assert_problem

pytestmark = pytest.mark.anyio

NODES: list[Any] = [
    {"name": "y", "op": "mul", "args": ["x", 2]},
    {"name": "s", "op": "sum", "args": ["y"]},
    {"op": "autograd.backward", "args": ["s"]},
]


async def test_profile_reports_each_op_and_node(sess: Sess) -> None:
    await sess.tensor("x", fill="ones", shape=[3], requires_grad=True)
    r = await sess.graph(NODES, profile=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["tensors"]) == {"y", "s"}
    prof = body["profile"]
    events = [(e["name"], e["node"], e["op"], e["input_shapes"]) for e in prof["events"]]
    assert events[:2] == [("aten::mul", 0, "mul", [[3], []]), ("aten::sum", 1, "sum", [[3]])]
    for e in prof["events"]:
        assert e["cpu_time_us"] >= 0 and e["start_us"] >= 0
    assert [n["op"] for n in prof["nodes"]] == ["mul", "sum", "autograd.backward"]
    for n in prof["nodes"]:
        assert n["wall_time_us"] > 0 and n["cpu_time_us"] >= 0
    # the nodes ran as without the profiler: the backward reached x
    assert await sess.grad("x") == [2.0, 2.0, 2.0]


async def test_no_timing_fields_unless_asked(sess: Sess) -> None:
    await sess.tensor("x", fill="ones", shape=[3], requires_grad=True)
    for extra in ({}, {"profile": False}):
        r = await sess.graph(NODES[:2], **extra)
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"tensors"}


async def test_compact_nodes_profiled(sess: Sess) -> None:
    await sess.tensor("x", fill="ones", shape=[2], requires_grad=True)
    r = await sess.graph([["y", "exp", ["x"]]], profile=True)
    assert r.status_code == 200, r.text
    assert [e["name"] for e in r.json()["profile"]["events"]] == ["aten::exp"]


@pytest.mark.parametrize("bad", ["true", 1, 0, None, [], {"on": True}])
async def test_profile_must_be_a_boolean(sess: Sess, bad: Any) -> None:
    await sess.tensor("x", fill="ones", shape=[3], requires_grad=True)
    r = await sess.graph(NODES[:1], profile=bad)
    assert_problem(r, 422, "validation_error")
    ok = await sess.graph([["z", "mul", ["x", 3]]], profile=True)
    assert ok.status_code == 200, ok.text


async def test_failed_profiled_request_changes_nothing(sess: Sess) -> None:
    await sess.tensor("x", fill="ones", shape=[3], requires_grad=True)
    r = await sess.graph([["y", "mul", ["x", 2]], ["w", "mul", ["nope", 2]]], profile=True)
    assert_problem(r, 400, "unknown_name")
    r = await sess.graph([["z", "mul", ["y", 2]]])
    assert_problem(r, 400, "unknown_name")
    # a request that does not ask has no timing fields
    r = await sess.graph([["z", "mul", ["x", 2]]])
    assert set(r.json()) == {"tensors"}
