"""engine.serialize.Records (format 2): one record per object, only what changed is dumped."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import engine
from engine import serialize
from engine.errors import GraphFreedError
from engine.state import from_array, version


def _codec(arrays: dict[str, Any]) -> serialize.Records:
    count = itertools.count()
    ids: dict[int, str] = {}

    def array_key(a: Any) -> str:
        k = ids.setdefault(id(a), f"a{next(count)}")
        arrays[k] = a
        return k

    return serialize.Records(lambda kind: f"{kind}{next(count)}", array_key)


def _reload(stored: dict[str, bytes], arrays: dict[str, Any]) -> serialize.Records:
    other = serialize.Records(lambda kind: kind + "x", lambda a: "never")
    other.load(stored, arrays.__getitem__)
    return other


def test_records_round_trip_a_graph_sharing_nodes_and_storages() -> None:
    arrays: dict[str, Any] = {}
    codec = _codec(arrays)
    x = engine.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    a, b = y.sum(), (y * 2).sum()  # both graphs share y's node
    alias = x.detach()  # shares x's storage
    changed, _ = codec.dump([a, b, x, alias])
    assert all(rec.count(b"\n") >= 1 for rec in changed.values())
    codec.mark_stored(changed)
    keys = {n: codec.key(t, "t") for n, t in {"a": a, "b": b, "x": x, "alias": alias}.items()}

    other = _reload(codec.stored, arrays)
    a2, b2, x2, al2 = (other.tensor(keys[n]) for n in ("a", "b", "x", "alias"))
    assert a2.grad_fn.next_functions[0][0] is b2.grad_fn.next_functions[0][0].next_functions[0][0]
    a2.backward(retain_graph=True)
    np.testing.assert_array_equal(x2.grad.numpy(), [2.0, 4.0, 6.0])
    with engine.no_grad():
        al2.add_(1.0)  # the alias shares the storage: x sees it
    np.testing.assert_array_equal(x2.detach().numpy(), [2.0, 3.0, 4.0])


def test_only_changed_records_are_dumped() -> None:
    arrays: dict[str, Any] = {}
    codec = _codec(arrays)
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    c = from_array(np.ones(2))
    loss = (x * x).sum()
    first, new_arrays = codec.dump([loss, x, c])
    codec.mark_stored(first)
    assert set(new_arrays) == set(arrays)
    assert codec.dump([loss, x, c]) == ({}, {})  # nothing changed: nothing to write

    with engine.no_grad():
        c.mul_(3.0)  # in place: the array c's storage holds, and its version, change
    changed, new_arrays = codec.dump([loss, x, c])
    assert set(changed) == {codec.key(c._st, "s"), codec.key(c._vc, "v")}  # not the tensor
    assert [id(a) for a in new_arrays.values()] == [id(c._st.array)] and version(c) == 1
    codec.mark_stored(changed)

    loss.backward()  # frees the saved values and writes x.grad
    changed, _ = codec.dump([loss, x, c])
    kinds = sorted(serialize.kind_of(k) for k in changed)
    assert kinds.count("N") >= 1 and codec.key(x, "t") in changed
    codec.mark_stored(changed)
    other = _reload(codec.stored, arrays)
    with pytest.raises(GraphFreedError):
        other.tensor(codec.key(loss, "t")).backward()  # freed stays freed


def test_references_are_the_first_line_and_retained_is_weak() -> None:
    arrays: dict[str, Any] = {}
    codec = _codec(arrays)
    x = engine.tensor([1.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    z = y * 3
    changed, _ = codec.dump([z])
    node = changed[codec.key(y.grad_fn, "N")]
    assert codec.key(x, "t") in serialize.record_refs(node)
    ynode = changed[codec.key(z.grad_fn, "N")]
    # z's node saves no tensor here (a scalar factor); the retaining node names y only weakly
    assert codec.key(y, "t") not in serialize.record_refs(node)
    assert codec.key(y.grad_fn, "N") in serialize.record_refs(ynode)


def test_records_keep_views_their_base_and_copy_slices() -> None:
    arrays: dict[str, Any] = {}
    codec = _codec(arrays)
    leaf = engine.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    x = leaf * 1
    v = x[0:2]
    w = x.view(2, 2).t()
    v.mul_(10)  # x: CopySlices (its in-place node referenced from its attrs)
    changed, _ = codec.dump([x, v, w, leaf])
    codec.mark_stored(changed)
    keys = {n: codec.key(t, "t") for n, t in {"x": x, "v": v, "w": w, "leaf": leaf}.items()}
    other = _reload(codec.stored, arrays)
    x2, v2, w2, leaf2 = (other.tensor(keys[n]) for n in ("x", "v", "w", "leaf"))
    assert v2._base is x2 and w2._base is x2 and x2._version == 1
    assert [x2.grad_fn.name(), v2.grad_fn.name(), w2.grad_fn.name()] == [
        "torch::autograd::CopySlices",
        "AsStridedBackward0",
        "AsStridedBackward0",
    ]
    v2.add_(1)  # still a view after loading: the write reaches the base and w
    assert x2.tolist() == [11.0, 21.0, 3.0, 4.0] and w2.tolist() == [[11.0, 3.0], [21.0, 4.0]]
    (x2.sum() + w2[1, 0]).backward()
    assert leaf2.grad.tolist() == [10.0, 20.0, 1.0, 1.0]
    assert x.tolist() == [10.0, 20.0, 3.0, 4.0]  # the original is untouched

    # a write through the original view: only the base's storage (its array) and the shared
    # counter are new records, and the view's own (its grad_fn is regenerated)
    with engine.no_grad():
        v.add_(5)
    changed, _ = codec.dump([x, v, w, leaf])
    assert codec.key(x._st, "s") in changed and codec.key(x._vc, "v") in changed
    codec.mark_stored(changed)
    third = _reload(codec.stored, arrays)
    assert third.tensor(keys["w"]).tolist() == [[15.0, 3.0], [25.0, 4.0]]


# ------------------------------------------------- stored Functions and hooks as data
def _sq_class(k: float, captures: list[Any]) -> type:
    """A Function stored as data ``{"k": k}`` and a capture c: y = k x², dx = 2 k x c g."""

    class Sq(engine.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return x * x * k

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (x,) = ctx.saved_tensors
            return g * 2 * k * x * captures[0]

        @staticmethod
        def stored_form() -> tuple[Any, list[Any]]:
            return {"fn": "sq", "k": k}, captures

    return Sq


def _pair_class(captures: list[Any]) -> type:
    """Two outputs (a = 2x, b = x²), b saved (an output: its node is the output's node)."""

    class Pair(engine.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            a, b = x * 2, x * x
            ctx.save_for_backward(x, b)
            return a, b

        @staticmethod
        def backward(ctx: Any, ga: Any, gb: Any) -> Any:
            x, b = ctx.saved_tensors
            return ga * 2 + gb * 2 * x + 0 * b

        @staticmethod
        def stored_form() -> tuple[Any, list[Any]]:
            return {"fn": "pair"}, captures

    return Pair


class _MulHook:
    def __init__(self, f: Any) -> None:
        self.f = f

    def __call__(self, g: Any) -> Any:
        return g * self.f

    def stored_form(self) -> tuple[Any, list[Any]]:
        return {"hook": "mul"}, [self.f]


class _Loader:
    def __init__(self) -> None:
        self.hooks: list[tuple[Any, Any]] = []

    def function(self, data: Any, captures: list[Any]) -> type:
        return _sq_class(data["k"], captures) if data["fn"] == "sq" else _pair_class(captures)

    def hook(self, t: Any, data: Any, captures: list[Any], register: Any) -> None:
        assert data == {"hook": "mul"}
        self.hooks.append((t, register(_MulHook(captures[0]))))


def _reload_with(stored: dict[str, bytes], arrays: dict[str, Any], loader: Any) -> Any:
    other = serialize.Records(lambda kind: kind + "x", lambda a: "never", loader)
    other.load(stored, arrays.__getitem__)
    return other


def _function_graph() -> dict[str, Any]:
    x = engine.tensor([1.0, -2.0], requires_grad=True)
    c = engine.tensor([1.0, 3.0])
    y = _sq_class(0.5, [c]).apply(x)
    a, b = _pair_class([]).apply(x)
    out = y.sum() + a.sum() + b.sum()
    return {"out": out, "x": x, "y": y, "b": b, "c": c}


# dx: Sq: 2 * 0.5 * x * c = x * c; Pair: 2 + 2x
_DX = [1.0 * 1.0 + 2 + 2.0, -2.0 * 3.0 + 2 - 4.0]


def test_records_round_trip_stored_functions() -> None:
    arrays: dict[str, Any] = {}
    codec = _codec(arrays)
    named = _function_graph()
    changed, _ = codec.dump(named.values())
    codec.mark_stored(changed)
    keys = {n: codec.key(t, "t") for n, t in named.items()}
    with pytest.raises(engine.errors.InvalidArgumentError, match="template loader"):
        _reload(codec.stored, arrays)  # no loader: refused
    other = _reload_with(codec.stored, arrays, _Loader())
    out, x, y, b = (other.tensor(keys[n]) for n in ("out", "x", "y", "b"))
    assert y.grad_fn.name() == "SqBackward" and b.grad_fn.name() == "PairBackward"
    assert y.grad_fn.next_functions[0][0].variable is x
    out.backward()
    assert x.grad.tolist() == _DX
    with pytest.raises(GraphFreedError):
        out.backward()  # the Functions' saved values are freed, as torch's
    # the original graph is untouched and gives the same gradient
    named["out"].backward()
    assert named["x"].grad.tolist() == _DX


def test_format_1_round_trips_stored_functions_and_hooks() -> None:
    import json

    named = _function_graph()
    f = engine.tensor([10.0, 10.0])
    h = named["y"]
    h.register_hook(_MulHook(f))
    h.retain_grad()
    doc, arrays = serialize.dump({**named, "f": f})
    doc = json.loads(json.dumps(doc))
    with pytest.raises(engine.errors.InvalidArgumentError, match="template loader"):
        serialize.load(doc, arrays)
    loaded = serialize.load(doc, arrays, _Loader())
    loaded["out"].backward()
    named["out"].backward()
    assert loaded["x"].grad.tolist() == named["x"].grad.tolist()
    assert loaded["y"].grad.tolist() == named["y"].grad.tolist() == [10.0, 10.0]


def test_records_round_trip_hooks_retain_grad_and_removal() -> None:
    arrays: dict[str, Any] = {}
    codec = _codec(arrays)
    x = engine.tensor([1.0, -2.0], requires_grad=True)
    f = engine.tensor([10.0, 10.0])
    y = x * 2
    y.retain_grad()
    hy = y.register_hook(_MulHook(f))
    x.register_hook(_MulHook(f))
    out = y.sum()
    roots = [out, x, y, f]
    changed, _ = codec.dump(roots)
    codec.mark_stored(changed)
    assert codec.dump(roots) == ({}, {})  # hooks unchanged: nothing to write
    keys = {n: codec.key(t, "t") for n, t in {"out": out, "x": x, "y": y}.items()}
    loader = _Loader()
    other = _reload_with(codec.stored, arrays, loader)
    assert len(loader.hooks) == 2
    o2, x2, y2 = (other.tensor(keys[n]) for n in ("out", "x", "y"))
    o2.backward(retain_graph=True)
    assert y2.grad.tolist() == [10.0, 10.0]  # hooked, then retained
    assert x2.grad.tolist() == [200.0, 200.0]
    # a loaded hook's handle removes it
    handle = next(hd for t, hd in loader.hooks if t is x2)
    handle.remove()
    o2.backward()
    assert x2.grad.tolist() == [220.0, 220.0]

    hy.remove()  # on the original: y's record changes (only y's)
    changed, _ = codec.dump(roots)
    assert set(changed) == {keys["y"]}
    codec.mark_stored(changed)
    third = _reload_with(codec.stored, arrays, _Loader())
    third.tensor(keys["out"]).backward()
    assert third.tensor(keys["y"]).grad.tolist() == [1.0, 1.0]
    assert third.tensor(keys["x"]).grad.tolist() == [20.0, 20.0]


def test_python_functions_and_hooks_are_not_stored() -> None:
    class Plain(engine.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g * 2

    x = engine.tensor([1.0], requires_grad=True)
    codec = _codec({})
    with pytest.raises(engine.errors.InvalidArgumentError, match="Plain cannot be stored"):
        codec.dump([Plain.apply(x)])
    z = x * 3
    z.register_hook(lambda g: g)
    with pytest.raises(engine.errors.InvalidArgumentError, match="hook cannot be stored"):
        codec.dump([z])
    with pytest.raises(engine.errors.InvalidArgumentError, match="hook cannot be stored"):
        serialize.dump({"z": z})
