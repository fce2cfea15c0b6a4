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
