"""Shape and dtype inference without data: run an op on stand-in arrays.

A stand-in is a zero-strided array (``broadcast_to`` of one element), so it costs
no memory however large its shape; the op's own forward and checks then give the
exact result shape, dtype and PyTorch's error for a bad call. The Python client
uses this to know ``.shape`` and ``.dtype`` of a lazily recorded op without a
round trip.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd import no_grad
from .dtypes import DType, as_dtype
from .ops import OPS
from .tensor import Tensor

__all__ = ["infer", "stand_in"]


def stand_in(shape: tuple[int, ...], dtype: DType | str) -> Tensor:
    """A tensor of ``shape`` and ``dtype`` holding zeros, backed by a single element."""
    dt = as_dtype(dtype)
    return Tensor._make(np.broadcast_to(np.zeros((), dtype=dt.np), shape), False, None)


def infer(op: str, args: list[Any], kwargs: dict[str, Any]) -> tuple[tuple[int, ...], DType]:
    """The shape and dtype of ``op(*args, **kwargs)``; args are stand-ins, scalars or lists."""
    spec = OPS[op]
    with no_grad():
        out = spec(*args, **kwargs)
    return tuple(out.shape), out.dtype
