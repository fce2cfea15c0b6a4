"""The raw-array backward (``create_graph=False``) against the differentiable one.

For every gradcheck case (every differentiable op of the table), the gradients of a backward
that runs VJPs on raw arrays equal, bit for bit, those of ``create_graph=True``, which runs the
same declarations on engine Tensors. The raw path creates no node and no Tensor besides the
gradients it hands back, and never writes an array that a user holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_gradcheck import CASE_IDS, CASES

import engine as torch
from engine import autograd
from engine.autograd import Node
from engine.ops import OPS
from engine.tensor import Tensor


def _grads(c: Any, create_graph: bool, dtype: Any = torch.float64) -> list[Any]:
    rng = c.rng()
    arrays = c.arrays(rng)
    xs = [torch.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    out = c.fn(*xs)
    v = torch.tensor(np.random.default_rng(7).standard_normal(tuple(out.shape)), dtype=out.dtype)
    gs = autograd.grad(out, xs, grad_outputs=v, create_graph=create_graph, allow_unused=True)
    return [None if g is None else g.detach().numpy() for g in gs]


def _same(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype and x.shape == y.shape
            assert np.array_equal(x, y, equal_nan=True), (x, y)


@pytest.mark.parametrize("c", CASES, ids=CASE_IDS)
def test_raw_backward_equals_differentiable(c: Any) -> None:
    _same(_grads(c, False), _grads(c, True))


RAW_CASES = [c for c in CASES if any(OPS[n].raw for n in c.ops())]


@pytest.mark.parametrize("c", RAW_CASES, ids=[c.id for c in RAW_CASES])
def test_raw_backward_equals_differentiable_float32(c: Any) -> None:
    _same(_grads(c, False, torch.float32), _grads(c, True, torch.float32))


def test_raw_ops_cover_the_chain_and_reductions() -> None:
    raw = {name for name, op in OPS.items() if op.raw}
    assert {"add", "sub", "mul", "div", "neg", "exp", "tanh", "sin", "sum", "mean", "matmul"} <= raw


def _count_backward(monkeypatch: pytest.MonkeyPatch, y: Any) -> dict[str, int]:
    made = {"nodes": 0, "tensors": 0}
    node_init = Node.__init__
    make = Tensor._make

    def count_node(self: Any, *a: Any) -> None:
        made["nodes"] += 1
        node_init(self, *a)

    def count_tensor(*a: Any, **k: Any) -> Any:
        made["tensors"] += 1
        return make(*a, **k)

    monkeypatch.setattr(Node, "__init__", count_node)
    monkeypatch.setattr(Tensor, "_make", staticmethod(count_tensor))
    try:
        y.backward()
    finally:
        monkeypatch.undo()
    return made


def test_raw_backward_builds_no_node_and_no_tensor_per_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch as real

    x = torch.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    w = torch.tensor(np.linspace(0.5, 2, 3), requires_grad=True)
    versions = (x._vc[0], w._vc[0])
    short = _count_backward(monkeypatch, (x * w).sum())
    x.grad = w.grad = None
    y = ((x * w + 0.5).tanh() * 3 - x.exp() / w).sin().mean()
    long = _count_backward(monkeypatch, y)
    assert long["nodes"] == short["nodes"] == 0
    # the seed and the leaves' .grad only: as many for 2 ops as for 9
    assert long["tensors"] == short["tensors"] <= 5
    assert (x._vc[0], w._vc[0]) == versions
    xt = real.tensor(x.detach().numpy(), requires_grad=True)
    wt = real.tensor(w.detach().numpy(), requires_grad=True)
    ((xt * wt + 0.5).tanh() * 3 - xt.exp() / wt).sin().mean().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-12)


def test_mixed_dtypes_fall_back_and_match() -> None:
    """float32 * float64: NumPy's promotion is not torch's for every mix, so such a node runs
    its VJPs on Tensors; the gradients still equal the differentiable path's."""
    a = np.linspace(0.1, 1, 4, dtype=np.float32)
    b = np.linspace(1, 2, 4)
    out = []
    for cg in (False, True):
        x = torch.tensor(a, requires_grad=True)
        y = torch.tensor(b, requires_grad=True)
        s = torch.tensor(np.float64(1.5), requires_grad=True)
        gs = autograd.grad(((x * y) * s / x).sum(), [x, y, s], create_graph=cg)
        out.append([g.detach().numpy() for g in gs])
    _same(out[0], out[1])
    assert out[0][0].dtype == np.float32


def test_no_user_array_is_written_in_place() -> None:
    a = np.linspace(-1, 1, 6).reshape(2, 3)
    a0 = a.copy()
    x = torch.tensor(a, requires_grad=True)
    gout = np.full((2, 3), 0.25)
    gout0 = gout.copy()
    y = x * 2 + x * x
    y.backward(torch.from_numpy(gout) if hasattr(torch, "from_numpy") else torch.tensor(gout))
    first = x.grad.numpy()
    first0 = first.copy()
    held = x.grad
    held_array = held._st.array
    held0 = held_array.copy()
    (x.exp() + x).sum().backward()  # accumulates into .grad
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(gout, gout0)
    np.testing.assert_array_equal(first, first0)
    np.testing.assert_array_equal(held_array, held0)  # a new array, not written in place
    assert x.grad is held  # the same Tensor, its value summed (torch's AccumulateGrad)
    np.testing.assert_allclose(x.grad.numpy(), a0 * 0 + first0 + np.exp(a0) + 1)


def test_same_gradient_reaching_two_leaves_is_not_shared_in_place() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = torch.tensor([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()
    x.grad.add_(torch.tensor([10.0, 10.0]))
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])


def test_modified_saved_value_raises_on_the_raw_path() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = (h * h).sum()
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_freed_graph_raises_on_the_raw_path() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_a_host_budget_sees_every_raw_vjp_before_it_allocates() -> None:
    """A host's ``budget`` (the service's per-request bytes and deadline) is told of each
    raw VJP call, as of each op, so a backward on raw arrays can still be refused or stopped
    between nodes."""
    from engine.state import budget

    x = torch.ones(4, 4, dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(5):
        y = y * 2.0  # raw VJP: one (4, 4) float64 gradient for x's side
    out = y.sum()
    told: list[int] = []
    with budget(told.append):
        out.backward()
    assert len(told) >= 6  # sum's VJP and the five mul VJPs (plus whatever backward allocates)
    assert told.count(4 * 4 * 8) >= 5

    class Refused(Exception):
        pass

    def refuse(nbytes: int) -> None:
        raise Refused

    x.grad = None
    y = x * 2.0
    out = y.sum()
    with pytest.raises(Refused), budget(refuse):
        out.backward()
    assert x.grad is None


# ------------------------------------------------ one-value gradients and lazy products
def _both_paths(fn: Any, *arrays: np.ndarray) -> None:
    """The raw path's gradients equal create_graph=True's, bit for bit."""
    out = []
    for cg in (False, True):
        xs = [torch.tensor(a, requires_grad=True) for a in arrays]
        gs = autograd.grad(fn(*xs), xs, create_graph=cg, allow_unused=True)
        out.append([None if g is None else g.detach().numpy() for g in gs])
    _same(out[0], out[1])


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w: (x * x * 3).mean(),
        lambda x, w: (x * w).mean(),  # w broadcast: its gradient is summed from a full array
        lambda x, w: (x * x + x * 2.5 - w).mean(),
        lambda x, w: ((x * x).exp() * x).mean(),  # a lazy product meets a non-leaf node
        lambda x, w: (x / w - (-x)).sum() * 0.5,
        lambda x, w: ((x * x) * (x * x)).mean(),
        lambda x, w: (x.tanh() * x.tanh()).mean(),  # same saved output twice
    ],
    ids=["square-scale", "broadcast", "products", "into-exp", "div-neg", "nested", "tanh"],
)
def test_one_value_gradients_match_the_differentiable_path(fn: Any) -> None:
    rng = np.random.default_rng(5)
    _both_paths(fn, rng.standard_normal((3, 4)), rng.uniform(0.5, 2, (4,)))


def test_a_broadcast_gradient_becomes_a_leaf_grad_of_its_own_memory() -> None:
    x = torch.ones(3, 4, requires_grad=True)
    x.mean().backward()
    a = x.grad.numpy()
    assert a.flags.writeable and a.flags.c_contiguous and all(a.strides)
    x.grad.add_(1.0)
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), np.float32(1 / 12) + 1))


def test_square_under_a_mean_costs_one_full_size_gradient() -> None:
    """(x*x*3).mean(): the gradient of every node above x is one value, and x's two products
    with it sum lazily, so backward allocates x.grad and nothing else full-size."""
    import tracemalloc

    n = 1 << 20
    x = torch.tensor(np.random.default_rng(1).standard_normal(n), requires_grad=True)
    loss = (x * x * 3).mean()
    tracemalloc.start()
    try:
        loss.backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * n * 8, peak
    np.testing.assert_array_equal(x.grad.numpy(), x.detach().numpy() * (6 / n))


def test_shape_and_product_ops_run_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    """mv, bmm, repeat, flip, roll, tril, triu and narrow (split's pieces) backward on raw
    arrays: no node, no Tensor besides the seed and the leaves' gradients."""
    raw = {name for name, op in OPS.items() if op.raw}
    assert {"mv", "bmm", "repeat", "flip", "roll", "tril", "triu", "narrow"} <= raw
    m = torch.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    v = torch.tensor(np.linspace(0.5, 2, 8), requires_grad=True)
    b = torch.tensor(np.linspace(-2, 2, 16).reshape(2, 4, 2), requires_grad=True)
    y = m.flip(0).roll((1, -1), (0, 1)).tril(1).triu(-1).repeat(1, 2).mv(v).sum()
    z = torch.bmm(m.repeat(2, 1, 1), b).roll(1).narrow(1, 1, 2).sum()
    z = z + sum(p.sum() for p in m.split([1, 2]))
    made = _count_backward(monkeypatch, y + z)
    m.grad = v.grad = b.grad = None
    short = _count_backward(monkeypatch, (m * 2).sum() + (v * 2).sum() + (b * 2).sum())
    assert made["nodes"] == short["nodes"] == 0
    assert made["tensors"] == short["tensors"]  # as many for the chain as for a mul each
