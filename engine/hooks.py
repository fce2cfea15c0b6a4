"""Tensor hooks and ``retain_grad``: ``Tensor.register_hook`` and the hooks backward runs.

A hook belongs to a tensor (held weakly here): on a non-leaf it runs on the gradient flowing
into the ``grad_fn`` the tensor had when the hook was registered (after an in-place op it sees
the gradient of the value before it, as torch's do) and may return a replacement; on a leaf it
runs before the gradient is accumulated into ``.grad`` or returned by ``autograd.grad``.
``retain_grad`` follows the tensor to its current ``grad_fn`` and runs after the hooks there,
storing the (hooked) gradient into ``.grad``.
"""

from __future__ import annotations

import itertools
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from .tensor import Tensor

__all__ = [
    "RemovableHandle",
    "has_hooks",
    "node_hooks",
    "register_hook",
    "restore_hook",
    "retain_grad",
    "run",
    "run_node",
    "state_of",
    "stored_hooks",
]

Hook = Callable[[Any], Any]


class _Entry:
    __slots__ = ("__weakref__", "hooks", "ref", "retains", "state")

    def __init__(self, ref: weakref.ref[Any]) -> None:
        self.ref = ref
        # id -> (hook, the grad_fn it was registered on: None for a leaf)
        self.hooks: dict[int, tuple[Hook, Any]] = {}
        self.retains = False
        self.state = object()  # a new object whenever hooks or retains change (serialize)


_entries: dict[int, _Entry] = {}
_ids = itertools.count()


def _entry(t: Tensor) -> _Entry:
    key = id(t)
    e = _entries.get(key)
    if e is None or e.ref() is not t:

        def gone(_: Any, key: int = key) -> None:
            cur = _entries.get(key)
            if cur is not None and cur.ref() is None:
                del _entries[key]

        e = _Entry(weakref.ref(t, gone))
        _entries[key] = e
    return e


class RemovableHandle:
    """What ``register_hook`` returns: ``remove()`` unregisters the hook."""

    __slots__ = ("_entry", "id")

    def __init__(self, entry: _Entry, hook_id: int) -> None:
        self._entry = weakref.ref(entry)
        self.id = hook_id

    def remove(self) -> None:
        e = self._entry()
        if e is not None and e.hooks.pop(self.id, None) is not None:
            e.state = object()

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def register_hook(t: Tensor, hook: Hook) -> RemovableHandle:
    """``Tensor.register_hook``: torch refuses it on a tensor that does not require grad."""
    if not t.requires_grad:
        raise InvalidArgumentError(
            "cannot register a hook on a tensor that doesn't require gradient"
        )
    return restore_hook(t, hook, t.grad_fn)


def restore_hook(t: Tensor, hook: Hook, node: Any) -> RemovableHandle:
    """Register ``hook`` on ``t`` as if when ``node`` was its grad_fn (None: a leaf's hook);
    a loaded graph's hooks come back this way (engine.serialize)."""
    e = _entry(t)
    hid = next(_ids)
    e.hooks[hid] = (hook, None if node is None else weakref.ref(node))
    e.state = object()
    return RemovableHandle(e, hid)


def retain_grad(t: Tensor) -> None:
    """Mark a non-leaf so backward stores its ``.grad`` (a leaf already does)."""
    if t.grad_fn is not None:
        e = _entry(t)
        if not e.retains:
            e.retains = True
            e.state = object()


def state_of(t: Tensor) -> Any:
    """An object that stays the same while ``t``'s hooks and retain_grad stay the same (None
    for a tensor that never had any)."""
    e = _entries.get(id(t))
    return e.state if e is not None and e.ref() is t else None


def stored_hooks(t: Tensor) -> tuple[list[tuple[Hook, Any]], bool]:
    """``t``'s live hooks in registration order as (hook, the node it was registered on, or
    None for a leaf's), and whether it retains its grad. A hook whose node is gone never runs
    again and is left out."""
    e = _entries.get(id(t))
    if e is None or e.ref() is not t:
        return [], False
    out: list[tuple[Hook, Any]] = []
    for hook, ref in e.hooks.values():
        if ref is None:
            out.append((hook, None))
        elif (node := ref()) is not None:
            out.append((hook, node))
    return out, e.retains


def retains_grad(t: Tensor) -> bool:
    e = _entries.get(id(t))
    return e is not None and e.ref() is t and e.retains and t.grad_fn is not None


def has_hooks() -> bool:
    return bool(_entries)


def node_hooks() -> dict[int, list[Tensor]]:
    """``{id(grad_fn): [tensor, ...]}``: the live tensors with a hook registered on that node,
    or retaining their grad with it as their current grad_fn."""
    out: dict[int, list[Tensor]] = {}
    for e in list(_entries.values()):
        t = e.ref()
        if t is None:
            continue
        nodes = {id(r()): None for _, r in e.hooks.values() if r is not None and r() is not None}
        if e.retains and t.grad_fn is not None:
            nodes[id(t.grad_fn)] = None
        for k in nodes:
            out.setdefault(k, []).append(t)
    return out


def run_node(
    tensors: list[Tensor], node: Any, g: Any, create_graph: bool, store: Callable[..., Any]
) -> Any:
    """The hooks registered on ``node`` (per tensor, in registration order), then
    retain_grad's store for the tensors whose current grad_fn it is."""
    for t in tensors:
        e = _entries.get(id(t))
        if e is None or e.ref() is not t:
            continue
        for hook, ref in list(e.hooks.values()):
            if ref is not None and ref() is node:
                new = hook(g)
                if new is not None:
                    g = _checked(new, g)
    for t in tensors:
        e = _entries.get(id(t))
        if e is not None and e.ref() is t and e.retains and t.grad_fn is node:
            store(t, g, create_graph)  # autograd's AccumulateGrad store
    return g


def run(t: Tensor, g: Any, create_graph: bool, leaf: bool) -> Any:
    """A leaf's hooks on ``g``, in registration order."""
    e = _entries.get(id(t))
    if e is None or e.ref() is not t:
        return g
    for hook, ref in list(e.hooks.values()):
        if ref is None:
            new = hook(g)
            if new is not None:
                g = _checked(new, g)
    return g


def _checked(new: Any, old: Any) -> Any:
    if not isinstance(new, type(old)):  # a Tensor (old is one)
        raise InvalidArgumentError(
            f"expected a Tensor or None from a hook, but got {type(new).__name__}"
        )
    if tuple(new.shape) != tuple(old.shape):
        raise InvalidArgumentError(
            f"hook 'hook' has changed the size of value: expected {list(old.shape)}, "
            f"got {list(new.shape)}"
        )
    return new


def warn_nonleaf_grad() -> None:
    """torch's warning for reading ``.grad`` of a non-leaf that does not retain it."""
    warnings.warn(
        "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
        "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
        "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
        "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
        "instead. See github.com/pytorch/pytorch/pull/30531 for more information.",
        UserWarning,
        stacklevel=3,
    )
