"""Autograd through the client: SGD in place, accumulation, retain_graph, higher order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from client import RemoteRuntimeError, RemoteTorch

START = [[0.5, -1.0], [2.0, 0.25]]
X = [[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]


def test_sgd_in_place_under_no_grad_with_zero_grad(torch: RemoteTorch, ref: Any) -> None:
    lr = 0.1
    w, rw = torch.tensor(START, requires_grad=True), ref.tensor(START, requires_grad=True)
    x, rx = torch.tensor(X), ref.tensor(X)
    for _ in range(3):
        loss, rloss = ((x @ w).tanh() ** 2).mean(), ((rx @ rw).tanh() ** 2).mean()
        loss.backward()
        rloss.backward()
        assert w.grad is not None
        with torch.no_grad():
            w -= lr * w.grad
        with ref.no_grad():
            rw -= lr * rw.grad
        assert w.is_leaf and w.requires_grad and w.grad_fn is None
        w.grad = None
        rw.grad = None
        assert w.grad is None
        np.testing.assert_allclose(w.detach().numpy(), rw.detach().numpy(), rtol=1e-6)
        assert loss.item() == pytest.approx(rloss.item(), rel=1e-6)
    assert repr(w) == repr(rw)
    # after zero_grad a new backward starts from nothing (no accumulation)
    (w * 2).sum().backward()
    assert w.grad is not None and w.grad.tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_in_place_forms_and_data(torch: RemoteTorch, ref: Any) -> None:
    w, rw = torch.tensor([1.0, 2.0], requires_grad=True), ref.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    (rw * rw).sum().backward()
    with torch.no_grad():
        w.add_(w.grad, alpha=-0.5)
        w.mul_(2)
        w.div_(4)
        w.sub_(1)
    with ref.no_grad():
        rw.add_(rw.grad, alpha=-0.5)
        rw.mul_(2)
        rw.div_(4)
        rw.sub_(1)
    assert repr(w) == repr(rw)
    w.data.mul_(10)  # .data shares storage and is not tracked, as in torch
    rw.data.mul_(10)
    assert repr(w) == repr(rw)
    g = w.grad
    assert g is not None
    g.zero_()  # the .grad tensor itself
    rw.grad.zero_()
    assert repr(w.grad) == repr(rw.grad) == "tensor([0., 0.])"
    with torch.no_grad():
        w.zero_()
        w.copy_(torch.tensor([3.0, 4.0]))
    assert w.tolist() == [3.0, 4.0]


def test_in_place_on_leaf_outside_no_grad_raises_at_once(torch: RemoteTorch, ref: Any) -> None:
    w, rw = torch.ones(2, requires_grad=True), ref.ones(2, requires_grad=True)
    before = torch.requests
    with pytest.raises(RuntimeError) as got:
        w -= 1
    with pytest.raises(RuntimeError) as want:
        rw -= 1
    assert str(got.value) == str(want.value)
    assert getattr(got.value, "code", None) == "leaf_inplace"
    assert torch.requests == before


def test_gradients_accumulate_and_retain_graph(torch: RemoteTorch, ref: Any) -> None:
    x = torch.ones(2, 2, requires_grad=True)
    out = ((x + 2) * (x + 2) * 3).mean()
    out.backward(retain_graph=True)
    assert x.grad is not None and x.grad.tolist() == [[4.5, 4.5], [4.5, 4.5]]
    out.backward()
    assert repr(x.grad) == "tensor([[9., 9.],\n        [9., 9.]])"
    with pytest.raises(RemoteRuntimeError) as info:
        out.backward()
    assert info.value.code == "graph_freed" and info.value.status == 409


def test_backward_with_gradient_and_inputs(torch: RemoteTorch, ref: Any) -> None:
    a, ra = torch.tensor([1.0, 2.0], requires_grad=True), ref.tensor([1.0, 2.0], requires_grad=True)
    b, rb = torch.tensor([3.0, 4.0], requires_grad=True), ref.tensor([3.0, 4.0], requires_grad=True)
    y, ry = a * b, ra * rb
    y.backward(torch.tensor([1.0, 0.5]), inputs=[a])
    ry.backward(ref.tensor([1.0, 0.5]), inputs=[ra])
    assert repr(a.grad) == repr(ra.grad)
    assert b.grad is None and rb.grad is None
    z, rz = (a * b).sum(), (ra * rb).sum()
    torch.autograd.backward(z)
    ref.autograd.backward(rz)
    assert repr(a.grad) == repr(ra.grad) and repr(b.grad) == repr(rb.grad)


def test_autograd_grad_hessian_vector_product(torch: RemoteTorch, ref: Any) -> None:
    values, v = [1.0, -2.0, 0.5], [1.0, 0.5, 2.0]
    x, rx = torch.tensor(values, requires_grad=True), ref.tensor(values, requires_grad=True)
    f, rf = (x**3).sum() + (x[0] * x[1]), (rx**3).sum() + (rx[0] * rx[1])
    (g,) = torch.autograd.grad(f, x, create_graph=True)
    (rg,) = ref.autograd.grad(rf, rx, create_graph=True)
    assert g is not None and g.requires_grad and not g.is_leaf
    assert repr(g.detach()) == repr(rg.detach())
    (hv,) = torch.autograd.grad((g * torch.tensor(v)).sum(), x)
    (rhv,) = ref.autograd.grad((rg * ref.tensor(v)).sum(), rx)
    assert hv is not None and not hv.requires_grad
    assert repr(hv) == repr(rhv)  # 6 x * v + the cross term
    assert x.grad is None  # autograd.grad leaves .grad alone


def test_autograd_grad_outputs_and_unused(torch: RemoteTorch, ref: Any) -> None:
    a, ra = torch.tensor([1.0, 2.0], requires_grad=True), ref.tensor([1.0, 2.0], requires_grad=True)
    b, rb = torch.tensor([5.0], requires_grad=True), ref.tensor([5.0], requires_grad=True)
    y, ry = a * 3, ra * 3
    ga, gb = torch.autograd.grad(
        y, [a, b], grad_outputs=torch.tensor([0.5, 2.0]), allow_unused=True
    )
    rga, rgb = ref.autograd.grad(
        ry, [ra, rb], grad_outputs=ref.tensor([0.5, 2.0]), allow_unused=True
    )
    assert repr(ga) == repr(rga)
    assert gb is None and rgb is None


def test_non_scalar_backward_and_non_leaf_requires_grad_errors(
    torch: RemoteTorch, ref: Any
) -> None:
    x, rx = torch.ones(2, requires_grad=True), ref.ones(2, requires_grad=True)
    y, ry = x + 2, rx + 2
    with pytest.raises(RuntimeError) as got:
        y.backward()
    with pytest.raises(RuntimeError) as want:
        ry.backward()
    assert str(got.value) == str(want.value)
    assert getattr(got.value, "code", None) == "grad_requires_scalar"
    with pytest.raises(RuntimeError) as got:
        y.requires_grad_(False)
    with pytest.raises(RuntimeError) as want:
        ry.requires_grad_(False)
    assert getattr(got.value, "code", None) == "not_leaf"
    assert str(got.value).split("\n")[0] == str(want.value).split("\n")[0]
    c = torch.ones(2)
    with pytest.raises(RuntimeError) as got:
        c.sum().backward()
    with pytest.raises(RuntimeError) as want:
        ref.ones(2).sum().backward()
    assert str(got.value) == str(want.value)
