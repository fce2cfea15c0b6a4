"""Backend arrays from Python data with ``torch.tensor``'s dtype inference and its errors.

Shared by the engine's factories and ``Tensor`` and by the client (which types host values
locally before sending them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes as D
from .backend import default_backend
from .errors import InvalidArgumentError, InvalidValueError, LiteralOverflowError
from .values import HostValues

__all__ = ["OVERFLOW_LITERAL", "array_from", "infer_dtype", "ragged_message"]

OVERFLOW_LITERAL = "Overflow when unpacking long long"  # torch.tensor([2**63])


def infer_dtype(value: Any) -> D.DType:
    """torch.tensor's inference: any float -> float32, else any int -> int64, else bool."""
    kinds: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, HostValues):
            kinds.add("t:" + D.from_numpy_dtype(v._array().dtype).name)
        elif isinstance(v, bool | np.bool_):
            kinds.add("b")
        elif isinstance(v, int | np.integer):
            kinds.add("i")
        elif isinstance(v, float | np.floating):
            kinds.add("f")
        else:
            raise InvalidArgumentError(f"Could not infer dtype of {type(v).__name__}")
    if "f" in kinds or any(k.startswith("t:float") for k in kinds):
        return D.default_float()
    if "i" in kinds or any(k.startswith("t:int") for k in kinds):
        return D.int64
    return D.bool_ if kinds else D.default_float()


def array_from(data: Any, dtype: Any = None, xp: Any = None) -> Any:
    """A backend array from numbers, nested lists, arrays or tensors (always a copy)."""
    xp = xp if xp is not None else default_backend().xp
    dt = D.as_dtype(dtype) if dtype is not None else None
    if isinstance(data, HostValues):
        arr = data._array()
        return xp.asarray(arr, dtype=(dt or D.from_numpy_dtype(arr.dtype)).np).copy()
    if hasattr(data, "__array__") or hasattr(data, "__cuda_array_interface__"):
        arr = xp.asarray(data)
        src = D.from_numpy_dtype(arr.dtype) if dt is None else dt
        return arr.astype(src.np, copy=True)
    if dt is None:
        dt = infer_dtype(data)
    try:
        host = np.array(data, dtype=dt.np if dt is not D.bool_ else None)
    except OverflowError:  # a Python int beyond the integer dtype
        raise LiteralOverflowError(OVERFLOW_LITERAL) from None
    except (ValueError, TypeError) as exc:
        ragged = ragged_message(data)
        if ragged is not None:
            raise InvalidValueError(ragged) from None
        raise InvalidArgumentError(f"could not build a tensor from this data: {exc}") from None
    if host.dtype == object or (host.dtype.kind == "u" and not dt.is_floating_point):
        if ragged_message(data) is None:  # regular, so the objects are ints beyond int64
            raise LiteralOverflowError(OVERFLOW_LITERAL)
        raise InvalidArgumentError("could not build a tensor from ragged nested sequences")
    host = host.astype(dt.np, copy=False)
    return host if xp is np else xp.asarray(host)


def ragged_message(data: Any) -> str | None:
    """torch's message for nested sequences of unequal lengths (sizes from the first items)."""
    sizes: list[int] = []
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        v, dim = stack.pop()
        if not isinstance(v, list | tuple):
            continue
        if dim == len(sizes):
            sizes.append(len(v))
        elif sizes[dim] != len(v):
            return f"expected sequence of length {sizes[dim]} at dim {dim} (got {len(v)})"
        stack.extend((x, dim + 1) for x in reversed(v))
    return None
