"""Views against PyTorch: they share storage and the version counter with their base, an
in-place op on a view reaches the base (CopySlices) and every other view of it
(AsStridedBackward0), gradients flow to the base's history, and torch's errors for the
forbidden cases (a view of a leaf, views made in no_grad mode, outputs of multi-view
functions, overlapping writes, saved values changed through a view)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from test_vs_torch import BOTH, ENG, TOR, _builtin, _fn_name, _t, _u, assert_same

import engine
from engine.tensor import multi_output

X4 = _u(4, seed=40)
X34 = _u(3, 4, seed=41)
W2 = _u(2, seed=42)


def _next(t: Any) -> list[str | None]:
    """The names of ``t.grad_fn``'s next_functions."""
    return [None if f is None else f.name() for f, _ in t.grad_fn.next_functions]


def _host(v: Any) -> Any:
    if isinstance(v, engine.Tensor | torch.Tensor):
        return ("tensor", str(v.dtype), np.asarray(v.detach().numpy()).round(10).tolist())
    if isinstance(v, dict):
        return {k: _host(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_host(x) for x in v]
    return v


SCENARIOS: dict[str, Callable[[Any], dict[str, Any]]] = {}


def scenario(fn: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def slice_writes_base(m: Any) -> dict[str, Any]:
    a = _t(m, X4)
    b = a[:2]
    b.add_(5)
    c = a[1:3]  # another view sees the write, and writes back itself
    c.mul_(2)
    return {
        "a": a,
        "b": b,
        "c": c,
        "versions": [a._version, b._version, c._version],
        "base": [b._base is a, c._base is a, a._base is None, b._is_view(), a._is_view()],
    }


@scenario
def every_view_op_aliases(m: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    views: dict[str, Callable[[Any], Any]] = {
        "index": lambda x: x[1, 1:3],
        "ellipsis-none": lambda x: x[..., None, 2],
        "view": lambda x: x.view(2, 6),
        "reshape": lambda x: x.reshape(4, 3),
        "flatten": lambda x: x.flatten(),
        "transpose": lambda x: x.transpose(0, 1),
        "t": lambda x: x.t(),
        "T": lambda x: x.T,
        "permute": lambda x: x.permute(1, 0),
        "select": lambda x: x.select(1, 2),
        "unsqueeze": lambda x: x.unsqueeze(1),
        "squeeze": lambda x: x[0:1].squeeze(0),
        "expand": lambda x: x[0:1].expand(1, 4),
        "detach": lambda x: x.detach(),
        "view-of-view": lambda x: x.t()[1:3].unsqueeze(0)[0],
        "narrow": lambda x: x.narrow(1, 1, 2),
        "split": lambda x: x.split(2, dim=1)[1],
        "chunk": lambda x: x.chunk(3)[2],
    }
    for name, fn in views.items():
        x = _t(m, X34)
        v = fn(x)
        v.mul_(3)  # through the view into the base
        x.add_(1)  # and back: the view reads the base's new values
        out[name] = [x, v, x._version, v._version]
    return out


@scenario
def inplace_on_view_rebases_history(m: Any) -> dict[str, Any]:
    leaf = _t(m, X4, True)
    x = leaf * 1
    v = x[0:2]
    w = x[1:3]
    t = x.view(2, 2).t()
    before = [_fn_name(v), _fn_name(w), _fn_name(t)]
    v.mul_(10)
    names = {
        "x": _fn_name(x),
        "x_next": _next(x),
        "v": _fn_name(v),
        "v_next": _next(v),
        "w": _fn_name(w),
        "t": _fn_name(t),
    }
    (x.sum() + (w * w).sum() + t[0, 1]).backward()
    return {"before": before, "names": names, "grad": leaf.grad, "x": x, "w": w}


@scenario
def inplace_with_a_tensor_into_a_base_without_grad(m: Any) -> dict[str, Any]:
    x = m.T.zeros(4, dtype=m.T.float64)
    v = x[1:3]
    w = _t(m, W2, True)
    v.mul_(w)
    v.add_(w)
    flags = [x.requires_grad, x.is_leaf, _fn_name(x), _next(x), _fn_name(v)]
    (x * _t(m, X4)).sum().backward()
    return {"flags": flags, "x": x, "w_grad": w.grad}


@scenario
def base_inplace_regenerates_views(m: Any) -> dict[str, Any]:
    leaf = _t(m, X34, True)
    x = leaf * 2
    row = x[1]
    col = x.t()[2]
    x.mul_(3)  # the base itself, in place
    names = [_fn_name(row), _fn_name(col), _next(row)]
    (row * col[:1].sum() + row).sum().backward()
    return {"names": names, "grad": leaf.grad, "row": row, "col": col}


@scenario
def setitem_is_a_copy_into_a_view(m: Any) -> dict[str, Any]:
    leaf = _t(m, X4, True)
    w = _t(m, W2, True)
    x = leaf * 1
    x[0:2] = 5
    n1 = [_fn_name(x), _next(x)]
    x[1] = w[0]
    n2 = [_fn_name(x), _next(x)]
    x[...] = x * 2  # no view: a copy into x itself
    n3 = str(_fn_name(x)).removeprefix("torch::autograd::")  # engine: CopyBackwards.name()
    x.sum().backward()
    return {"names": [n1, n2, n3], "x": x, "leaf": leaf.grad, "w": w.grad, "v": x._version}


@scenario
def view_chain_grads(m: Any) -> dict[str, Any]:
    leaf = _t(m, X34, True)
    x = leaf.tanh() * 1
    v = x.permute(1, 0).unsqueeze(0)[0, 1:]
    v.squeeze(0).sub_(_t(m, _u(3, 3, seed=43)) ** 2)
    y = x.view(12)[::5]
    y.mul_(y.detach() + 1)
    loss = (x * x).sum() + (v * 3).sum()
    loss.backward()
    return {"x": x, "grad": leaf.grad, "names": [_fn_name(x), _fn_name(v), _fn_name(y)]}


@scenario
def no_grad_writes_into_a_leaf(m: Any) -> dict[str, Any]:
    p = _t(m, X4, True)
    with m.T.no_grad():
        p[0:2].add_(1)  # an optimizer's update through a view
        q = p[2:]
        q.mul_(2)
        q.add_(q)  # again: no grad_fn is read in no_grad mode
    return {
        "p": p,
        "version": p._version,
        "p_flags": [p.is_leaf, p.requires_grad, _fn_name(p)],
        "q_requires": q.requires_grad,  # its grad_fn raises (see ERRORS)
    }


@scenario
def detach_of_a_view_writes_the_base(m: Any) -> dict[str, Any]:
    leaf = _t(m, X4, True)
    x = leaf * 3
    v = x[1:3]
    v.detach().mul_(0.5)  # untracked, but the version moves and views regenerate
    names = [_fn_name(x), _fn_name(v)]
    x.sum().backward()
    return {"x": x, "v": v, "names": names, "grad": leaf.grad, "version": x._version}


@scenario
def hooks_and_retain_grad_around_a_view_write(m: Any) -> dict[str, Any]:
    leaf = _t(m, X4, True)
    x = leaf * 1
    x.retain_grad()
    seen: list[Any] = []
    x.register_hook(lambda g: seen.append(g * 1))  # sees the gradient of the old value
    x[0:2].mul_(2)
    x.sum().backward()
    return {"retained": x.grad, "hooked": seen, "leaf": leaf.grad}


@scenario
def int_views_alias(m: Any) -> dict[str, Any]:
    a = m.T.tensor(np.arange(12).reshape(3, 4))
    a.t()[1].fill_(-1)
    a[2, ::2] += 7
    return {"a": a, "version": a._version}


def test_values_grads_in_detail() -> None:
    """The brief's example, value by value."""
    for m in BOTH:
        leaf = _t(m, X4, True)
        x = leaf * 1
        v = x[0:2]
        v.mul_(10)
        x.sum().backward()
        if m is ENG:
            got = leaf.grad
        else:
            assert_same(got, leaf.grad)
    assert got.tolist() == [10.0, 10.0, 1.0, 1.0]


# ------------------------------------------------------------------------ errors
def _leaf_view(m: Any) -> Any:
    _t(m, X4, True)[1:3].mul_(2)


def _leaf_setitem(m: Any) -> Any:
    x = _t(m, X4, True)
    x[0] = 1.0


def _no_grad_view(m: Any) -> Any:
    x = _t(m, X4, True) * 1
    with m.T.no_grad():
        v = x[0:2]
    v.add_(1)


def _no_grad_view_of_leaf(m: Any) -> Any:
    x = _t(m, X4, True)
    with m.T.no_grad():
        v = x[0:2]
    v.add_(1)


def _no_grad_view_indirect(m: Any) -> Any:
    x = _t(m, X4, True) * 1
    with m.T.no_grad():
        v = x[0:2]
    x.mul_(2)
    return v.grad_fn


def _no_grad_view_written_in_no_grad(m: Any) -> Any:
    p = _t(m, X4, True)
    with m.T.no_grad():
        q = p[2:]
        q.mul_(2)
    return q.grad_fn


def _detach_a_view_in_place(m: Any) -> Any:
    (_t(m, X4, True) * 1)[1:].detach_()


def _overlap(m: Any) -> Any:
    m.T.zeros(3, 1).expand(3, 4).add_(1)


def _saved_base_through_view(m: Any) -> Any:
    x = _t(m, X4, True) * 1
    y = x * x
    x[0].mul_(2)
    y.sum().backward()


def _saved_view_through_base(m: Any) -> Any:
    x = _t(m, X4, True) * 1
    v = x[0:2]
    y = v * v
    x.add_(1)
    y.sum().backward()


def _saved_view_dropped_then_base_written(m: Any) -> Any:
    x = _t(m, X4, True) * 1
    y = x[0:2] * x[0:2]  # the views are not kept by the caller
    x.add_(1)
    y.sum().backward()


def _saved_view_through_sibling(m: Any) -> Any:
    x = _t(m, X4, True) * 1
    v = x[0:2]
    y = v * v
    x[1:3].add_(1)
    y.sum().backward()


ERRORS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("view-of-leaf", _leaf_view, "leaf_inplace"),
    ("setitem-on-leaf", _leaf_setitem, "leaf_inplace"),
    ("no-grad-view", _no_grad_view, "invalid_argument"),
    ("no-grad-view-of-leaf", _no_grad_view_of_leaf, "invalid_argument"),
    ("no-grad-view-indirect", _no_grad_view_indirect, "invalid_argument"),
    ("no-grad-view-read-after-write", _no_grad_view_written_in_no_grad, "invalid_argument"),
    ("overlapping-write", _overlap, "invalid_argument"),
    ("detach-a-view-in-place", _detach_a_view_in_place, "invalid_argument"),
    ("saved-base-through-view", _saved_base_through_view, "modified_inplace"),
    ("saved-view-through-base", _saved_view_through_base, "modified_inplace"),
    ("saved-view-dropped", _saved_view_dropped_then_base_written, "modified_inplace"),
    ("saved-view-through-sibling", _saved_view_through_sibling, "modified_inplace"),
]


@pytest.mark.parametrize(("fn", "code"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_like_torch(fn: Callable[[Any], Any], code: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as t_info:
            fn(TOR)
    with pytest.raises(engine.EngineError) as e_info:
        fn(ENG)
    assert isinstance(e_info.value, _builtin(t_info.value))
    assert e_info.value.code == code
    assert str(t_info.value).strip() in str(e_info.value)


MULTI: dict[str, Callable[[Any], Any]] = {
    "split": lambda x: x.split(2),
    "split-sizes": lambda x: x.split([1, 3]),
    "chunk": lambda x: x.chunk(2),
}


def _multi(m: Any, how: str, indirect: bool) -> Any:
    x = _t(m, X4, True) * 1
    _a, b = MULTI[how](x)
    if indirect:
        x.mul_(2)
        return b.grad_fn
    b.add_(1)


@pytest.mark.parametrize("indirect", [False, True])
@pytest.mark.parametrize("how", MULTI)
def test_multi_output_views_refuse_inplace(how: str, indirect: bool) -> None:
    with pytest.raises(RuntimeError) as t_info:
        _multi(TOR, how, indirect)
    with pytest.raises(engine.InvalidArgumentError) as e_info:
        _multi(ENG, how, indirect)
    assert str(t_info.value) == str(e_info.value)


def test_multi_output_marks_views_of_any_function() -> None:
    """``multi_output``: how a function returning several views opts in (torch's error)."""
    x = engine.tensor(X4, requires_grad=True) * 1
    a, b = x[0:2], x[2:4]
    multi_output([a, b], "UnbindBackward0")
    with pytest.raises(engine.InvalidArgumentError, match="Output 1 of Unbind is a view"):
        b.add_(1)


@scenario
def narrow_and_split_views(m: Any) -> dict[str, Any]:
    leaf = _t(m, X34, True)
    x = leaf * 1
    n = x.narrow(1, 1, 2)
    n.mul_(3)
    _a, b = x.detach().split(2, dim=1)  # no grad involved: their writes are allowed
    b.add_(1)
    with m.T.no_grad():
        c, _d = x.chunk(2)
        c.mul_(-1)  # in no_grad mode, allowed too
    names = [_fn_name(x), _fn_name(n)]
    x.sum().backward()
    return {"x": x, "names": names, "grad": leaf.grad, "versions": [x._version, b._version]}


def test_saved_arrays_are_never_written() -> None:
    """Copy-on-write: a write through a view replaces the base's array, so values saved
    for backward (and NumPy views of them) keep theirs."""
    x = engine.tensor(X34, requires_grad=True) * 1
    before = x._array()
    kept = before.copy()
    row = x[1]
    row_array = row._array()
    row.mul_(0)
    assert np.array_equal(before, kept)
    assert not np.array_equal(x._array(), kept)
    assert np.array_equal(row_array, kept[1])
    assert np.array_equal(x._array()[1], np.zeros(4))


# ------------------------------------------------ graph persistence and checkpoints
def _round_trip(named: dict[str, Any]) -> dict[str, Any]:
    from engine import serialize

    doc, arrays = serialize.dump(named)
    return serialize.load(json.loads(json.dumps(doc)), arrays)


def test_round_trip_keeps_views_aliasing_and_their_history() -> None:
    leaf = engine.tensor(X4, requires_grad=True)
    x = leaf * 1
    v = x[0:2]
    w = x.view(2, 2).t()
    v.mul_(10)  # x: CopySlices; v: AsStridedBackward0; w regenerates on access
    r = _round_trip({"x": x, "v": v, "w": w, "leaf": leaf})
    rx, rv, rw = r["x"], r["v"], r["w"]
    assert rv._base is rx and rw._base is rx and rv._version == rx._version == 1
    assert [rx.grad_fn.name(), rv.grad_fn.name(), rw.grad_fn.name()] == [
        "torch::autograd::CopySlices",
        "AsStridedBackward0",
        "AsStridedBackward0",
    ]
    rv.add_(1)  # still a view: the write reaches the base and the other view
    assert rx.tolist() == (X4 * [10, 10, 1, 1] + [1, 1, 0, 0]).tolist()
    assert rw.tolist() == rx.view(2, 2).t().tolist()
    (rx.sum() + rw[1, 0]).backward()
    # torch on the same steps
    tl = torch.tensor(X4, requires_grad=True)
    tx = tl * 1
    tv = tx[0:2]
    tw = tx.view(2, 2).t()
    tv.mul_(10)
    tv.add_(1)
    (tx.sum() + tw[1, 0]).backward()
    np.testing.assert_allclose(r["leaf"].grad.numpy(), tl.grad.numpy())
    assert leaf.grad is None  # the original graph is untouched
    assert x.tolist() == (X4 * [10, 10, 1, 1]).tolist()


def test_round_trip_keeps_modified_inplace_through_a_view() -> None:
    leaf = engine.tensor(X4, requires_grad=True)
    x = leaf * 1
    y = (x * x).sum()
    r = _round_trip({"x": x, "y": y})
    r["x"][1:3].mul_(2)  # the loaded view shares the loaded base's version counter
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        r["y"].backward()
    y.backward()  # the original still works: its arrays were never written
    assert leaf.grad.tolist() == (2 * X4).tolist()


def test_round_trip_of_a_view_made_in_no_grad_mode_keeps_the_error() -> None:
    x = engine.tensor(X4, requires_grad=True) * 1
    with engine.no_grad():
        v = x[0:2]
    r = _round_trip({"v": v})
    with pytest.raises(RuntimeError, match="created in no_grad mode"):
        r["v"].add_(1)


def test_checkpoint_restore_of_a_view_restores_its_base() -> None:
    from engine.state import checkpoint, footprint

    leaf = engine.tensor(X4, requires_grad=True)
    x = leaf * 1
    fn = x.grad_fn
    v = x[1:3]
    other = x[2:]
    before = footprint([x, v])
    cp = checkpoint(v)
    v.mul_(engine.tensor(W2, requires_grad=True))
    assert x.grad_fn.name() == "torch::autograd::CopySlices"
    assert footprint([x, v]).nodes > before.nodes
    cp.restore()
    assert x.grad_fn is fn and x._version == v._version == 0
    assert x.tolist() == X4.tolist() and other.tolist() == X4[2:].tolist()
    assert v.grad_fn.name() == "SliceBackward0"
    x.sum().backward()
    assert leaf.grad.tolist() == [1.0] * 4


def test_rollback_order_restores_base_and_view() -> None:
    """The service restores checkpoints newest first: a view's then its base's."""
    from engine.state import checkpoint

    x = engine.tensor(X4)
    v = x[0:2]
    cps = [checkpoint(v)]
    v.add_(1)
    cps.append(checkpoint(x))
    x.mul_(2)
    for cp in reversed(cps):
        cp.restore()
    assert x.tolist() == X4.tolist() and v.tolist() == X4[:2].tolist() and x._version == 0


def _backward_twice_through_copy_slices(m: Any) -> Any:
    x = _t(m, X4, True) * 1
    x[0:2].mul_(_t(m, W2, True))
    x.sum().backward()
    x.sum().backward()


def test_copy_slices_frees_the_in_place_node_like_torch() -> None:
    with pytest.raises(RuntimeError) as t_info:
        _backward_twice_through_copy_slices(TOR)
    with pytest.raises(engine.GraphFreedError) as e_info:
        _backward_twice_through_copy_slices(ENG)
    assert str(t_info.value) in str(e_info.value)


def test_graph_picture_names_copy_slices_as_torchviz() -> None:
    from engine.viz import make_dot

    x = engine.tensor(X4, requires_grad=True) * 1
    x[0:2].mul_(2)
    dot = str(getattr(make_dot(x.sum()), "source", make_dot(x.sum())))
    assert '"CopySlices"' in dot and "MulBackward0" in dot


@pytest.mark.parametrize("name", SCENARIOS, ids=SCENARIOS)
def test_views_like_torch(name: str) -> None:
    fn = SCENARIOS[name]
    assert _host(fn(ENG)) == _host(fn(TOR))


# ------------------------------------------------------------ random compositions
VIEW_STEPS: list[tuple[str, Callable[[Any], bool], Callable[[Any, Any], Any]]] = [
    ("slice", lambda v: v.ndim >= 1 and v.shape[0] >= 2, lambda v, r: v[1:]),
    ("step", lambda v: v.ndim >= 1 and v.shape[-1] >= 3, lambda v, r: v[..., ::2]),
    ("select", lambda v: v.ndim >= 2, lambda v, r: v[int(r.integers(v.shape[0]))]),
    ("t", lambda v: v.ndim == 2, lambda v, r: v.t()),
    ("permute", lambda v: v.ndim == 3, lambda v, r: v.permute(2, 0, 1)),
    ("unsqueeze", lambda v: v.ndim <= 2, lambda v, r: v.unsqueeze(1)),
    ("squeeze", lambda v: 1 in tuple(v.shape), lambda v, r: v.squeeze()),
    ("flatten", lambda v: v.ndim >= 2 and v.is_contiguous(), lambda v, r: v.flatten()),
    ("narrow", lambda v: v.ndim >= 1 and v.shape[-1] >= 2, lambda v, r: v.narrow(-1, 1, 1)),
]


def _compose(m: Any, seed: int) -> dict[str, Any]:
    r = np.random.default_rng(seed)
    leaf = _t(m, _u(3, 4, 2, seed=seed), True)
    other = _t(m, _u(2, seed=seed + 1), True)
    x = leaf * 1
    v, path = x, []
    for _ in range(int(r.integers(1, 4))):
        fit = [s for s in VIEW_STEPS if s[1](v)]
        name, _ok, step = fit[int(r.integers(len(fit)))]
        v, path = step(v, r), [*path, name]
    sibling = x[0]
    kind = int(r.integers(4))
    if kind == 0:
        v.mul_(3)
    elif kind == 1:
        v.add_(other.sum() * 2)
    elif kind == 2:
        v.sub_(v.detach() * 0.5)
        x.mul_(2)  # the base too
    else:
        with m.T.no_grad():
            v.mul_(-1)
    names = [_fn_name(x), _fn_name(v), _fn_name(sibling)]
    (x * x).sum().backward(retain_graph=True)
    (v.sum() * 3 + sibling.sum()).backward()
    return {
        "path": path,
        "x": x,
        "v": v,
        "names": names,
        "versions": [x._version, v._version, sibling._version],
        "grads": [leaf.grad, other.grad],
    }


@pytest.mark.parametrize("seed", range(24))
def test_random_view_compositions_like_torch(seed: int) -> None:
    assert _host(_compose(ENG, seed)) == _host(_compose(TOR, seed))
