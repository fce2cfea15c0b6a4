"""docs/tutorial.md steps 1-8 and the follow-ups, with ``import engine as torch``."""

from __future__ import annotations

import numpy as np
import pytest

import engine as torch


def test_steps_1_to_5() -> None:
    x = torch.ones(2, 2, requires_grad=True)
    assert repr(x) == "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)"
    assert x.requires_grad and x.is_leaf and x.grad_fn is None

    y = x + 2
    assert y.tolist() == [[3, 3], [3, 3]]
    assert y.grad_fn.name() == "AddBackward0"
    assert repr(y.grad_fn).startswith("<AddBackward0 object at 0x")
    assert not y.is_leaf

    z = y * y * 3
    out = z.mean()
    assert z.tolist() == [[27, 27], [27, 27]]
    assert z.grad_fn.name() == "MulBackward0"
    assert out.shape == () and out.item() == 27
    assert out.grad_fn.name() == "MeanBackward0"
    assert repr(out) == "tensor(27., grad_fn=<MeanBackward0>)"

    out.backward()
    assert x.grad is not None
    assert x.grad.tolist() == [[4.5, 4.5], [4.5, 4.5]]
    assert repr(x.grad) == "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"


def test_step_4_requires_grad_flag() -> None:
    a = torch.randn(2, 2)
    a = (a * 3) / (a - 1)
    assert not a.requires_grad
    a.requires_grad_(True)
    assert a.requires_grad and a.grad_fn is None
    b = (a * a).sum()
    assert b.grad_fn.name() == "SumBackward0"


def test_step_6_define_by_run() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, requires_grad=True)
    y = x * 2
    k = 1
    while y.data.norm() < 1000:
        y = y * 2
        k += 1
    v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float32)
    y.backward(v)
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), np.float32([0.1, 1.0, 0.0001]) * 2.0**k)


def test_steps_7_8_no_grad_and_detach() -> None:
    x = torch.randn(3, requires_grad=True)
    assert x.requires_grad and (x**2).requires_grad
    with torch.no_grad():
        assert not (x**2).requires_grad
    y = x.detach()
    assert not y.requires_grad and y.grad_fn is None
    assert y.eq(x).all().item()


def _tutorial_graph() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    out = (y * y * 3).mean()
    return x, y, out


def test_second_backward_fails_unless_retained() -> None:
    x, _, out = _tutorial_graph()
    out.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time") as e:
        out.backward()
    assert e.value.code == "graph_freed"

    x, _, out = _tutorial_graph()
    out.backward(retain_graph=True)
    out.backward()
    assert x.grad is not None and x.grad.tolist() == [[9.0, 9.0], [9.0, 9.0]]


def test_non_scalar_backward_and_non_leaf_flag() -> None:
    _, y, _ = _tutorial_graph()
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar") as e:
        y.backward()
    assert e.value.code == "grad_requires_scalar"
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf") as e2:
        y.requires_grad_(False)
    assert e2.value.code == "not_leaf"
    assert y.requires_grad_(True) is y  # a no-op on a non-leaf


def test_sgd_step_zero_grad_and_new_forward() -> None:
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    xs = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([1.0, 0.0])
    loss = ((xs @ w - target) ** 2).mean()
    loss.backward()
    grad = w.grad.numpy().copy()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad") as e:
        w -= 0.01 * w.grad
    assert e.value.code == "leaf_inplace"
    with torch.no_grad():
        w -= 0.01 * w.grad
    np.testing.assert_allclose(w.detach().numpy(), np.float32([1.0, -2.0]) - 0.01 * grad, rtol=1e-6)
    assert w.is_leaf and w.requires_grad
    w.grad = None
    loss2 = ((xs @ w - target) ** 2).mean()
    loss2.backward()
    assert loss2.item() < loss.item()
    assert w.grad is not None and not np.allclose(w.grad.numpy(), grad)


def test_hessian_vector_product() -> None:
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    v = torch.tensor([1.0, 0.5, -1.0], dtype=torch.float64)
    f = (x**3).sum() + (x[0] * x[1])
    (g,) = torch.autograd.grad(f, x, create_graph=True)
    assert g.requires_grad
    (hv,) = torch.autograd.grad((g * v).sum(), x)
    # H = diag(6x) + [[0,1,0],[1,0,0],[0,0,0]]
    h = np.diag(6 * np.array([1.0, 2.0, 3.0])) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0.0]])
    np.testing.assert_allclose(hv.numpy(), h @ v.numpy())
    assert x.grad is None  # autograd.grad never touches .grad
