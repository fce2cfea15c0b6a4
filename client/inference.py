"""Shape and dtype of a recorded op, without a round trip, remembered by call signature.

The engine infers by running the op on stand-in arrays, which costs about what the
real computation costs (a 2000x2000 matmul is a real matmul). A training loop calls
the same ops on the same shapes every step, so results are remembered by a
signature: tensors by shape and dtype, everything else by value. Errors are never
remembered: a bad call raises PyTorch's error every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

__all__ = ["NoSignature", "remembered", "remembered_as", "signature"]

T = TypeVar("T")
_MAX_ENTRIES = 4096
_MISSING = object()
_cache: OrderedDict[Hashable, Any] = OrderedDict()
_lock = threading.Lock()


class NoSignature(Exception):
    """A value the cache does not key (it is computed every time)."""


def signature(a: Any) -> Hashable:
    """The key of ``a``: tensors by shape and dtype, other values by type and value."""
    sig = getattr(a, "_signature", None)
    if sig is not None:
        key: Hashable = sig()
        return key
    if a is None or a is Ellipsis or isinstance(a, bool | int | float | str):
        return (type(a).__name__, a)
    if isinstance(a, list | tuple):
        return (type(a).__name__, tuple(signature(x) for x in a))
    if isinstance(a, dict):
        return ("dict", tuple(sorted((k, signature(v)) for k, v in a.items())))
    if isinstance(a, slice):
        return ("slice", a.start, a.stop, a.step)
    if isinstance(a, np.ndarray) and a.size <= 64:
        return ("array", a.shape, a.dtype.str, a.tobytes())
    raise NoSignature


def remembered(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()``, or its earlier result for a call with the same signature."""
    try:
        sig = signature(key)
    except NoSignature:
        return compute()
    return remembered_as(sig, compute)


def remembered_as(sig: Hashable | None, compute: Callable[[], T]) -> T:
    """``compute()``, or its earlier result for the key ``sig`` (a caller's own
    ``signature``-like key; None: not keyed, computed every time)."""
    if sig is None:
        return compute()
    with _lock:
        found = _cache.get(sig, _MISSING)
        if found is not _MISSING:
            _cache.move_to_end(sig)
            result: T = found
            return result
    result = compute()
    with _lock:
        _cache[sig] = result
        if len(_cache) > _MAX_ENTRIES:
            _cache.popitem(last=False)
    return result
