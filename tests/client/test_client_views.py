"""Views through the client: they alias their base on the server (an in-place op on a view
writes the base), and the client's local model of leafness, requires_grad and grad_fn
follows torch's (the base's grad_fn becomes CopySlices, its views' AsStridedBackward0)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from client import RemoteTorch

A = [1.0, 2.0, 3.0, 4.0]
W = [0.5, -2.0]


def test_a_write_through_a_view_shows_in_the_base(torch: RemoteTorch, ref: Any) -> None:
    for m in (torch, ref):
        a = m.tensor(A)
        b = a[:2]
        b.add_(5)
        assert a.tolist() == [6.0, 7.0, 3.0, 4.0]
        assert repr(a) == repr(ref.tensor([6.0, 7.0, 3.0, 4.0]))
        a.mul_(2)  # and back
        assert b.tolist() == [12.0, 14.0]
        assert a._version == b._version == 2
        c = a.reshape(2, 2).t()
        c[1].zero_()
        assert a.tolist() == [12.0, 0.0, 6.0, 0.0]


def _history(m: Any) -> dict[str, Any]:
    leaf = m.tensor(A, requires_grad=True)
    x = leaf * 1
    v = x[0:2]
    w = x[1:3]
    v.mul_(10)
    names = [x.grad_fn.name(), v.grad_fn.name(), w.grad_fn.name()]
    flags = [x.requires_grad, x.is_leaf, v.requires_grad, w.is_leaf]
    (x.sum() + (w * w).sum()).backward()
    z = m.zeros(4)
    u = z[1:3]
    p = m.tensor(W, requires_grad=True)
    u.mul_(p)
    later = [z.requires_grad, z.is_leaf, z.grad_fn.name(), u.grad_fn.name()]
    (z * 3).sum().backward()
    return {
        "names": names,
        "flags": flags,
        "grad": leaf.grad.tolist(),
        "x": x.tolist(),
        "later": later,
        "p": p.grad.tolist(),
    }


def test_history_through_views_as_torch(torch: RemoteTorch, ref: Any) -> None:
    assert _history(torch) == _history(ref)


def test_a_view_of_a_leaf_refuses_in_place_ops_locally(torch: RemoteTorch, ref: Any) -> None:
    texts = []
    for m in (torch, ref):
        leaf = m.tensor(A, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            leaf[1:3].mul_(2)
        texts.append(str(info.value))
        with m.no_grad():
            leaf[1:3].mul_(2)  # an update outside grad mode is allowed
        assert np.allclose(leaf.detach().numpy(), [1.0, 4.0, 6.0, 4.0])
    assert texts[0] == texts[1]


def _setitem(m: Any) -> dict[str, Any]:
    leaf = m.tensor(A, requires_grad=True)
    y = leaf * 2
    y[1:3] = leaf[:2] * 3
    names = [y.grad_fn.name()]
    y[0] = 7.0
    y[...] = y * 1  # the whole tensor: a copy into y itself
    names.append(y.grad_fn.name().removeprefix("torch::autograd::"))
    y.sum().backward()
    e = m.zeros(2, 3)
    e[1:, ::2] = 2
    return {"names": names, "y": y.tolist(), "grad": leaf.grad.tolist(), "e": e.tolist()}


def test_item_assignment_with_basic_keys_as_torch(torch: RemoteTorch, ref: Any) -> None:
    assert _setitem(torch) == _setitem(ref)
    x = torch.zeros(3)
    x[[0, 2]] = 1.0  # advanced keys: index_put_ (tests/client/test_client_ops.py)
    assert x.tolist() == [1.0, 0.0, 1.0]
