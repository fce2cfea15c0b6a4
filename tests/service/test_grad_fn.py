"""GET /v1/sessions/{id}/tensors/{name}/grad_fn: a grad_fn's next_functions as torch's."""

from __future__ import annotations

import pytest
import torch
from service_testkit import Sess, assert_problem

pytestmark = pytest.mark.anyio


async def test_next_functions_walk_as_torchs(sess: Sess) -> None:
    await sess.tensor("p", value=[1.0, 2.0], requires_grad=True)
    await sess.tensor("c", value=[3.0, 4.0])
    await sess.run(
        [
            {"name": "s", "op": "mul", "args": ["p", "c"]},
            {"name": "e", "op": "exp", "args": ["s"]},
            {"name": "out", "op": "sub", "args": ["e", "p"]},
        ]
    )
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    out = (p * torch.tensor([3.0, 4.0])).exp() - p

    def names(fn: object) -> list[str | None]:
        return [None if f is None else f.name() for f, _ in fn.next_functions]  # type: ignore[attr-defined]

    top = await sess.ok("GET", "/tensors/out/grad_fn")
    assert top["name"] == out.grad_fn.name() == "SubBackward0"
    assert [e and e["name"] for e in top["next_functions"]] == names(out.grad_fn)
    assert top["next_functions"][0]["tensors"] == ["e"]
    assert top["next_functions"][1] == {
        "name": "torch::autograd::AccumulateGrad",
        "variable": "p",
        "tensors": [],
    }
    mul = await sess.ok("GET", "/tensors/out/grad_fn", params={"path": "0,0"})
    want = out.grad_fn.next_functions[0][0].next_functions[0][0]
    assert mul["name"] == want.name() == "MulBackward0"
    assert [e and e["name"] for e in mul["next_functions"]] == names(want)
    assert mul["next_functions"][1] is None  # the constant c has no node


async def test_grad_fn_errors(sess: Sess) -> None:
    await sess.tensor("p", value=[1.0, 2.0], requires_grad=True)
    await sess.run([{"name": "s", "op": "mul", "args": ["p", 2]}])
    assert_problem(await sess.get("/tensors/p/grad_fn"), 400, "invalid_argument")
    r = await sess.get("/tensors/s/grad_fn", params={"path": "0"})  # AccumulateGrad
    assert "does not lead to a grad_fn node" in assert_problem(r, 400, "invalid_argument")["detail"]
    assert_problem(
        await sess.get("/tensors/s/grad_fn", params={"path": "5"}), 400, "invalid_argument"
    )
    assert_problem(
        await sess.get("/tensors/s/grad_fn", params={"path": "a"}), 422, "validation_error"
    )
    assert_problem(await sess.get("/tensors/zz/grad_fn"), 404, "tensor_not_found")
