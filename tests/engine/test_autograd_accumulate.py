"""AccumulateGrad and partial backward as torch does them (PyTorch's test_hessian_vector and
test_sharded_grad): gradients add into a .grad that has a graph, and autograd.grad frees only
the nodes it ran."""

from __future__ import annotations

from typing import Any

import pytest

import engine

torch = pytest.importorskip("torch")


def _hessian_vector(t: Any) -> dict[str, Any]:
    x = t.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = t.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
    z = x**2 + y * x + y**2
    z.backward(t.ones(2, 2), create_graph=True)
    first = {"x": x.grad.tolist(), "y": y.grad.tolist(), "rg": x.grad.requires_grad}
    grad = x.grad
    (2 * x.grad + y.grad).backward(t.ones(2, 2))
    return {
        **first,
        "x2": x.grad.tolist(),  # 2x + y + 5: added to, not replaced
        "y2": y.grad.tolist(),
        "same": x.grad is grad,  # in place
        "rg2": x.grad.requires_grad,
        "has_fn": x.grad.grad_fn is not None,
    }


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
def test_backward_adds_into_a_grad_that_has_a_graph() -> None:
    got, want = _hessian_vector(engine), _hessian_vector(torch)
    assert got == want
    assert got["x2"] == [[7.5, 8.0], [13.0, 13.0]]


def _sharded(t: Any) -> list[list[list[float]]]:
    leaves = [t.zeros(3, 3, requires_grad=True) for _ in range(6)]
    inter = [leaf * i + leaf * leaf for i, leaf in enumerate(leaves)]
    loss = sum(v * i for i, v in enumerate(inter)).sum()
    d_inter = [
        d
        for k in range(0, len(inter), 2)
        for d in t.autograd.grad(loss, inter[k : k + 2], retain_graph=True)
    ]
    # the nodes below the intermediates never ran: their saved values are still there
    t.autograd.backward(inter, d_inter)
    return [leaf.grad.tolist() for leaf in leaves]


def test_autograd_grad_frees_only_what_it_ran() -> None:
    assert _sharded(engine) == _sharded(torch)


def test_grad_of_the_target_node_is_not_run() -> None:
    for t in (engine, torch):
        x = t.tensor([1.0, 2.0], requires_grad=True)
        h = x * x
        out = (h * 3).sum()
        (gh,) = t.autograd.grad(out, h)
        h.backward(gh)  # h's own node was not run, so not freed
        assert x.grad.tolist() == [6.0, 12.0]


def test_two_leaves_reached_by_one_gradient_get_their_own_grads() -> None:
    for t in (engine, torch):
        a = t.tensor([1.0], requires_grad=True)
        b = t.tensor([1.0], requires_grad=True)
        (a + b).sum().backward()
        assert a.grad is not b.grad
        a.grad.add_(1)
        assert b.grad.tolist() == [1.0]


SECOND_BACKWARD: dict[str, Any] = {
    "select then mul by a scalar": lambda t, x: x[0] * 3,
    "select": lambda t, x: x[0],
    "index by a tensor": lambda t, x: x[t.tensor([0, 2])].sum(),
    "add a scalar": lambda t, x: (x + 1).sum(),
    "mul by a scalar": lambda t, x: (x * 2).sum(),
    "exp": lambda t, x: x.exp().sum(),
    "div by a scalar": lambda t, x: (x / 2).sum(),
    "slice": lambda t, x: x[1:].sum(),
    "mean": lambda t, x: x.mean(),
}


@pytest.mark.parametrize("case", sorted(SECOND_BACKWARD))
def test_a_second_backward_raises_where_torch_saved_values(case: str) -> None:
    def run(t: Any) -> str:
        x = t.tensor([1.0, 2.0, 3.0], requires_grad=True)
        z = SECOND_BACKWARD[case](t, x)
        z.backward()
        try:
            z.backward()
        except RuntimeError as exc:
            return str(exc)
        return "ok"

    assert run(engine) == run(torch)
