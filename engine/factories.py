"""Tensor factories with torch's signatures and dtype inference, and the random generator."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from . import dtypes as D
from .arrays import array_from
from .backend import default_backend
from .errors import InvalidArgumentError, ValueOverflowError
from .gradmode import check_numel
from .shapes import as_size
from .tensor import Tensor

__all__ = [
    "arange",
    "empty",
    "eye",
    "from_numpy",
    "full",
    "full_like",
    "linspace",
    "manual_seed",
    "ones",
    "ones_like",
    "rand",
    "rand_like",
    "randn",
    "randn_like",
    "tensor",
    "zeros",
    "zeros_like",
]


def _leaf(t: Tensor, requires_grad: bool) -> Tensor:
    """A factory's result, made to require grad when asked (floating point only)."""
    if not requires_grad:
        return t
    if not t.dtype.is_floating_point:
        raise InvalidArgumentError(
            "Only Tensors of floating point and complex dtype can require gradients"
        )
    return t.requires_grad_(True)


def tensor(
    data: Any, *, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """``torch.tensor``: a new leaf holding a copy of ``data``."""
    t = Tensor._make(array_from(data, dtype), False, None)
    return _leaf(t, requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or D.as_dtype(dtype) is data.dtype):
        return data
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray[Any, Any]) -> Tensor:
    """A tensor over a NumPy array (torch shares memory; arrays here are never written)."""
    D.from_numpy_dtype(array.dtype)
    return Tensor._make(array, False, None)


def _factory(shape: tuple[int, ...], dtype: Any, fill: Any, requires_grad: bool) -> Tensor:
    dt = D.as_dtype(dtype) if dtype is not None else D.default_float()
    if any(s < 0 for s in shape):
        raise InvalidArgumentError(f"Trying to create tensor with negative dimension {min(shape)}")
    check_numel(shape)
    xp = default_backend().xp
    t = Tensor._make(fill(xp, shape, dt.np), False, None)
    return _leaf(t, requires_grad)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return _factory(as_size(size), dtype, lambda xp, s, d: xp.zeros(s, dtype=d), requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    return _factory(as_size(size), dtype, lambda xp, s, d: xp.ones(s, dtype=d), requires_grad)


def full(
    size: Any,
    fill_value: Any,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    if dtype is None:
        dtype = D.scalar_dtype(fill_value)
    dt = D.as_dtype(dtype)
    if not D.fits(fill_value, dt):
        raise ValueOverflowError(D.overflow_message(dt))
    return _factory(
        as_size((size,)), dtype, lambda xp, s, d: xp.full(s, fill_value, dtype=d), requires_grad
    )


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    m = n if m is None else m
    return _factory((n, m), dtype, lambda xp, s, d: xp.eye(s[0], s[1], dtype=d), requires_grad)


def arange(
    start: Any,
    end: Any = None,
    step: Any = 1,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise InvalidArgumentError("step must be nonzero")
    if (end - start) * step < 0:
        raise InvalidArgumentError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        dtype = D.result_type(start, end, step)
    n = max(0, math.ceil((end - start) / step))
    check_numel((n,))
    dt = D.as_dtype(dtype)
    if dt is D.bool_:
        raise InvalidArgumentError("\"arange_cpu\" not implemented for 'Bool'")
    xp = default_backend().xp
    arr = (xp.arange(n, dtype=np.float64) * step + start).astype(dt.np)
    t = Tensor._make(arr, False, None)
    return _leaf(t, requires_grad)


def linspace(
    start: float,
    end: float,
    steps: int,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    dt = D.as_dtype(dtype) if dtype is not None else D.default_float()
    check_numel((steps,))
    xp = default_backend().xp
    t = Tensor._make(xp.linspace(start, end, steps).astype(dt.np), False, None)
    return _leaf(t, requires_grad)


# ----------------------------------------------------------------------- random
class _Rng(threading.local):
    def __init__(self) -> None:
        self.gen: Any = None


_rng = _Rng()
_global_seed: list[int | None] = [None]


def manual_seed(seed: int) -> None:
    """Seed the default generator (per thread, like a per-session generator)."""
    _global_seed[0] = int(seed)
    _rng.gen = np.random.default_rng(int(seed))


def generator(seed: int | None = None) -> np.random.Generator:
    """A new independent generator (the service gives each session one)."""
    return np.random.default_rng(seed)


def _gen(gen: Any) -> Any:
    if gen is not None:
        return gen
    if _rng.gen is None:
        _rng.gen = np.random.default_rng(_global_seed[0])
    return _rng.gen


def _random(
    size: tuple[Any, ...], dtype: Any, requires_grad: bool, gen: Any, normal: bool
) -> Tensor:
    shape = as_size(size)
    dt = D.as_dtype(dtype) if dtype is not None else D.default_float()
    if not dt.is_floating_point:
        raise InvalidArgumentError(
            f'"{"normal" if normal else "uniform"}_kernel_cpu" not implemented for '
            f"'{dt.name.capitalize()}'"
        )
    check_numel(shape)
    g = _gen(gen)
    np_dt = np.float64 if dt.np == np.float16 else dt.np
    host = g.standard_normal(shape, dtype=np_dt) if normal else g.random(shape, dtype=np_dt)
    xp = default_backend().xp
    arr = host.astype(dt.np, copy=False)
    t = Tensor._make(arr if xp is np else xp.asarray(arr), False, None)
    return _leaf(t, requires_grad)


def randn(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    generator: Any = None,
    device: Any = None,
) -> Tensor:
    return _random(size, dtype, requires_grad, generator, True)


def rand(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    generator: Any = None,
    device: Any = None,
) -> Tensor:
    return _random(size, dtype, requires_grad, generator, False)


def _like(x: Tensor, dtype: Any) -> Any:
    return dtype if dtype is not None else x.dtype


def zeros_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(*x.shape, dtype=_like(x, dtype), requires_grad=requires_grad)


def ones_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(*x.shape, dtype=_like(x, dtype), requires_grad=requires_grad)


def full_like(
    x: Tensor, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    return full(x.shape, fill_value, dtype=_like(x, dtype), requires_grad=requires_grad)


def randn_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return randn(*x.shape, dtype=_like(x, dtype), requires_grad=requires_grad)


def rand_like(x: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return rand(*x.shape, dtype=_like(x, dtype), requires_grad=requires_grad)
