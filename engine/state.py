"""The engine's face for a host that keeps tensors between calls (the HTTP service).

What a host needs beyond torch's own API, public and documented here, so that it never
reaches into a tensor's or a node's private fields:

``checkpoint(t)`` / ``Checkpoint.restore()``
    a tensor's in-place state at one moment, to undo in-place ops (atomic requests);
``reached_leaves(roots)``
    the leaf tensors a backward from ``roots`` reaches (whose ``.grad`` it writes);
``from_array(array)``
    a leaf over an existing array (NumPy or the backend's), without a copy;
``count_allocations()`` / ``allocated_bytes()``
    the bytes ops allocate in this thread within a block (an upper bound on what a
    request added to the memory a namespace holds);
``footprint(roots)``
    what tensors keep alive: the bytes of every array they reach (values, grads, saved
    graph values; views count once), and how many tensors and graph nodes;
``budget(reserve)``
    a block in which ``reserve(nbytes)`` hears each op's result size (from the shapes)
    before the op allocates, and may raise to refuse it;
``nbytes(t)``, ``version(t)``, ``grad_of(t)``
    the bytes of a tensor's values, torch's ``t._version`` counter, and the stored ``.grad``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from . import dtypes as D
from .autograd import Node, _mode, budget
from .tensor import Tensor, ViewTensor, root_storage, stored_grad_fn

__all__ = [
    "AllocationCount",
    "Checkpoint",
    "Footprint",
    "allocated_bytes",
    "budget",
    "checkpoint",
    "count_allocations",
    "footprint",
    "from_array",
    "grad_of",
    "nbytes",
    "reached_leaves",
    "version",
]


# ------------------------------------------------------------------ checkpoints
class Checkpoint:
    """A tensor's mutable state at one moment: the array its storage holds, its version
    counter, ``grad_fn``, ``requires_grad`` and ``.grad``.

    In-place ops (``add_``, ``copy_``, ...) rebind the storage's array and bump the
    version; ``restore()`` puts all of it back, so a failed batch of ops leaves the tensor
    (and every view sharing its storage) as it was. Arrays are never written in place, so
    holding the old array is enough. For a view, that array is its base's (the root of the
    storage it derives from), and the base's ``grad_fn`` and ``requires_grad`` are kept too:
    an in-place op on a view changes its base's history.
    """

    __slots__ = (
        "_array",
        "_base",
        "_grad",
        "_grad_fn",
        "_requires_grad",
        "_root",
        "_t",
        "_version",
        "_view",
    )

    def __init__(self, t: Tensor) -> None:
        self._t = t
        self._root = root_storage(t._st)
        self._array = self._root.array
        self._version = t._vc[0]
        self._grad_fn = stored_grad_fn(t)
        self._requires_grad = t._rg
        self._grad = t._grad
        self._view: tuple[int, Any, Any, bool] | None = None
        if type(t) is ViewTensor:
            b = t._vbase
            self._view = (t._attr_v, b, stored_grad_fn(b), b._rg)

    @property
    def tensor(self) -> Tensor:
        """The tensor this checkpoint restores."""
        return self._t

    def stand_in(self) -> Tensor:
        """A new tensor holding what the checkpoint keeps alive (the old array, grad_fn and
        ``.grad``), to measure it (``footprint``); not the tensor itself."""
        t = Tensor._make(self._array, False, self._grad_fn)
        t._grad = self._grad
        return t

    def restore(self) -> None:
        """Put the tensor's state back as it was when the checkpoint was taken."""
        t = self._t
        self._root.array = self._array
        t._vc[0] = self._version
        _SLOT.__set__(t, self._grad_fn)
        t._rg = self._requires_grad
        t._grad = self._grad
        if self._view is not None and isinstance(t, ViewTensor):
            t._attr_v, base, gf, rg = self._view
            _SLOT.__set__(base, gf)
            base._rg = rg


_SLOT = Tensor.__dict__["grad_fn"]  # a view's grad_fn slot, under its property


def checkpoint(t: Tensor) -> Checkpoint:
    """Take ``t``'s in-place state now (see ``Checkpoint``)."""
    return Checkpoint(t)


# --------------------------------------------------------------------- graphs
def reached_leaves(roots: Iterable[Tensor]) -> list[Tensor]:
    """The leaf tensors a backward from ``roots`` reaches, each once (in no set order).

    A root without a ``grad_fn`` is a leaf itself. Leaves that do not require grad are
    never in a graph, so each one returned is a tensor whose ``.grad`` such a backward
    accumulates into.
    """
    leaves: dict[int, Tensor] = {}
    seen: set[int] = set()
    stack: list[Any] = [r.grad_fn if r.grad_fn is not None else r for r in roots]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, Node):
            stack.extend(x for x in n.next if x is not None)
        else:
            leaves[id(n)] = n
    return list(leaves.values())


class Footprint(NamedTuple):
    """What some tensors keep alive."""

    nbytes: int  # bytes of the arrays, each buffer once (a view counts through its owner)
    tensors: int
    nodes: int


def footprint(roots: Iterable[Any]) -> Footprint:
    r"""What the tensors (or graph nodes) in ``roots`` keep alive: every array they reach
    (values, ``.grad``\ s, values saved for backward, array attributes of ops), each owning
    buffer counted once, and the tensors and graph nodes reached."""
    owners: dict[int, Any] = {}
    seen: set[int] = set()
    tensors = nodes = 0
    stack: list[Any] = list(roots)

    def add(a: Any) -> None:
        root = a
        while getattr(root, "base", None) is not None and hasattr(root.base, "nbytes"):
            root = root.base
        owners[id(root)] = root

    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, Tensor):
            tensors += 1
            add(obj._st.array)
            if obj._grad is not None:
                stack.append(obj._grad)
            gf = stored_grad_fn(obj)
            if gf is not None:
                stack.append(gf)
            if type(obj) is ViewTensor:
                stack.append(obj._vbase)
        elif isinstance(obj, Node):
            nodes += 1
            stack.extend(t for t in obj.next if t is not None)
            for s in (obj.saved or {}).values():
                add(s.array)
                if s.leaf is not None:
                    stack.append(s.leaf)
                if s.grad_fn is not None:
                    stack.append(s.grad_fn)
            for v in obj.attrs.values():
                if hasattr(v, "nbytes") and hasattr(v, "shape"):
                    add(v)
                elif isinstance(v, Node):  # CopySlices' in-place node
                    stack.append(v)
    return Footprint(sum(int(r.nbytes) for r in owners.values()), tensors, nodes)


# -------------------------------------------------------------------- tensors
def from_array(array: Any, requires_grad: bool = False) -> Tensor:
    """A new leaf over ``array`` (a NumPy array or one of the backend's), not copied.

    Arrays are never written in place by the engine, so the tensor and the caller may
    share it. The array's dtype must be one the engine has (``InvalidArgumentError``
    otherwise).
    """
    D.from_numpy_dtype(array.dtype)
    t = Tensor._make(array, False, None)
    if requires_grad:
        t.requires_grad_(True)
    return t


def nbytes(t: Tensor) -> int:
    """Bytes of ``t``'s values (torch's ``t.nbytes``): a view counts its own elements."""
    return int(t._st.array.nbytes)


def grad_of(t: Tensor) -> Tensor | None:
    """``t``'s ``.grad`` as stored, leaf or not, without torch's non-leaf warning (a host
    checkpoints it before a backward accumulates into it)."""
    return t._grad


def version(t: Tensor) -> int:
    """torch's ``t._version``: how many in-place ops changed ``t``'s storage."""
    return t._vc[0]


# ---------------------------------------------------------------- allocations
class _Blocks(threading.local):
    def __init__(self) -> None:
        self.open: list[AllocationCount] = []


_blocks = _Blocks()


class AllocationCount:
    """Bytes of op results computed in one thread within a ``count_allocations()`` block.

    An upper bound on the memory the block's results hold: views and temporaries that
    were freed again count too. Nested blocks count into their outer blocks as well.
    """

    __slots__ = ("_end", "_start")

    def __init__(self) -> None:
        self._start = _mode.allocated
        self._end: int | None = None

    @property
    def bytes(self) -> int:
        """Bytes so far (inside the block) or in all (after it)."""
        end = _mode.allocated if self._end is None else self._end
        return end - self._start


@contextlib.contextmanager
def count_allocations() -> Iterator[AllocationCount]:
    """Count the bytes ops allocate in this thread inside the ``with`` block."""
    count = AllocationCount()
    _blocks.open.append(count)
    try:
        yield count
    finally:
        count._end = _mode.allocated
        _blocks.open.pop()


def allocated_bytes() -> int:
    """Bytes allocated so far in this thread's innermost open ``count_allocations()``
    block; 0 outside any block."""
    return _blocks.open[-1].bytes if _blocks.open else 0
