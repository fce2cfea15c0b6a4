"""engine.state: the public API a host (the service) uses instead of private fields."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import engine
from engine.errors import EngineError
from engine.state import (
    allocated_bytes,
    checkpoint,
    count_allocations,
    footprint,
    from_array,
    nbytes,
    reached_leaves,
    version,
)


# ------------------------------------------------------------------ checkpoints
def test_restore_undoes_in_place_ops_for_the_tensor_and_what_shares_its_storage() -> None:
    c = engine.tensor([1.0, 2.0, 3.0])
    alias = c.detach()  # shares c's storage and version counter (torch's too)
    cp = checkpoint(c)
    c.add_(1)
    c.mul_(2)
    assert c.tolist() == [4.0, 6.0, 8.0] and alias.tolist() == [4.0, 6.0, 8.0]
    assert version(c) == 2
    cp.restore()
    assert c.tolist() == [1.0, 2.0, 3.0]
    assert alias.tolist() == [1.0, 2.0, 3.0]  # restored with the storage
    assert version(c) == version(alias) == 0
    assert cp.tensor is c


def test_restore_puts_back_grad_fn_requires_grad_and_grad() -> None:
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    fn = y.grad_fn
    cp_y = checkpoint(y)
    y.mul_(3)
    assert y.grad_fn is not fn and y.grad_fn is not None
    cp_y.restore()
    assert y.grad_fn is fn and version(y) == 0
    # the restored graph still differentiates as before the in-place op
    y.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [1.0, 1.0]

    plain = engine.zeros(2)
    cp = checkpoint(plain)
    plain.add_(x)  # in place with a tensor that requires grad: plain joins the graph
    assert plain.requires_grad and plain.grad_fn is not None
    cp.restore()
    assert not plain.requires_grad and plain.grad_fn is None and plain.tolist() == [0.0, 0.0]

    g = engine.tensor([5.0, 5.0])
    cp_x = checkpoint(x)
    x.grad = g
    cp_x.restore()
    assert x.grad is not None and x.grad is not g and x.grad.tolist() == [1.0, 1.0]


# ------------------------------------------------------------------------ graphs
def test_reached_leaves_are_the_leaves_backward_writes() -> None:
    a = engine.tensor([1.0, 2.0], requires_grad=True)
    b = engine.tensor([3.0, 4.0], requires_grad=True)
    unused = engine.tensor([1.0], requires_grad=True)
    c = engine.tensor([0.5, 0.5])  # no grad: never in the graph
    shared = a * b
    out = (shared + shared * c + a).sum()
    reached = reached_leaves([out])
    assert {id(t) for t in reached} == {id(a), id(b)}
    assert len(reached) == 2  # each once, though reached along several paths
    out.backward()
    written = [t for t in (a, b, unused, c) if t.grad is not None]
    assert {id(t) for t in written} == {id(t) for t in reached}


def test_reached_leaves_of_a_leaf_is_the_leaf() -> None:
    a = engine.tensor([1.0], requires_grad=True)
    assert reached_leaves([a]) == [a]
    assert reached_leaves([]) == []


# ----------------------------------------------------------------------- tensors
def test_from_array_shares_the_array_and_checks_its_dtype() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = from_array(arr)
    assert t.is_leaf and not t.requires_grad and t.grad_fn is None
    assert t.dtype is engine.float32 and tuple(t.shape) == (2, 3)
    assert np.shares_memory(t.numpy(), arr)
    assert from_array(arr, requires_grad=True).requires_grad
    assert from_array(np.float64(2.5)).tolist() == 2.5
    with pytest.raises(EngineError):
        from_array(np.array([1 + 2j]))
    with pytest.raises(EngineError):  # torch: only floating point tensors require grad
        from_array(np.array([1, 2]), requires_grad=True)


def test_nbytes_and_version_match_torch() -> None:
    torch = pytest.importorskip("torch")
    for lib in (engine, torch):
        x = lib.zeros(4, 5)
        row = x[1]
        alias = x.detach()
        assert nbytes(x) == 80 if lib is engine else x.nbytes == 80
        assert nbytes(row) == 20 if lib is engine else row.nbytes == 20
        x.add_(1)
        x.mul_(2)
        got = version(x) if lib is engine else x._version
        got_alias = version(alias) if lib is engine else alias._version
        assert (got, got_alias) == (2, 2)


# ------------------------------------------------------------------- allocations
def test_count_allocations_counts_op_results_in_the_block() -> None:
    x = engine.ones(1000)  # a factory, outside any block
    assert allocated_bytes() == 0
    with count_allocations() as outer:
        y = x * 2  # 4000 bytes
        assert allocated_bytes() == outer.bytes == 4000
        with count_allocations() as inner:
            z = y + 1
            assert allocated_bytes() == inner.bytes == 4000
        assert allocated_bytes() == outer.bytes == 8000  # the inner block counts outside too
        assert inner.bytes == 4000  # fixed once its block ended
        (z.sum() * 3).tolist()
        assert outer.bytes == 8000 + 4 + 4  # scalars count too
    y = x * 3
    assert outer.bytes == 8008 and allocated_bytes() == 0


def test_count_allocations_is_per_thread() -> None:
    started, done = threading.Event(), threading.Event()

    def other() -> None:
        started.wait()
        engine.ones(10_000) * 2  # 40 kB in another thread
        done.set()

    th = threading.Thread(target=other)
    th.start()
    with count_allocations() as here:
        started.set()
        done.wait(10)
        engine.ones(10) * 2
    th.join()
    assert here.bytes == 40


# --------------------------------------------------------------------- footprint
def test_footprint_counts_values_grads_and_saved_values_once() -> None:
    x = engine.ones(100, requires_grad=True)  # 400 bytes
    assert footprint([x]) == (400, 1, 0)
    view = x.detach()[10:20]  # a view of x's array: no bytes of its own
    assert footprint([x, view]).nbytes == 400
    y = x.exp()  # 400 bytes; exp saves its output (y itself)
    s = y.sum()  # 4 bytes
    fp = footprint([s])
    assert fp.nbytes == 400 + 400 + 4 and fp.nodes == 2
    assert fp.tensors >= 2  # s and the leaf x (saved outputs are not tensors here)
    s.backward()
    assert footprint([x]).nbytes == 400 + 400  # x and x.grad
    assert footprint([]) == (0, 0, 0)


def test_a_checkpoints_stand_in_holds_the_old_state() -> None:
    c = engine.ones(100)
    cp = checkpoint(c)
    c.zero_()  # rebinds c's storage to a new array; the checkpoint keeps the old one
    old = cp.stand_in()
    assert old is not c and old.tolist() == [1.0] * 100 and c.tolist() == [0.0] * 100
    assert footprint([c]).nbytes == 400 and footprint([c, old]).nbytes == 800

    x = engine.ones(3, requires_grad=True)
    y = x * 2
    fn = y.grad_fn
    cp = checkpoint(y)
    y.mul_(3)
    assert cp.stand_in().grad_fn is fn and y.grad_fn is not fn
