"""Tensor factories with torch's signatures and dtype inference, and the random generator."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from . import dtypes as D
from .arrays import array_from
from .backend import default_backend
from .errors import EngineTypeError, InvalidArgumentError, ValueOverflowError
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
    "logspace",
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


def _number(v: Any) -> Any:
    """A bound of a range: a Python number, or a one-element tensor's value (torch takes both)."""
    if hasattr(v, "item") and not isinstance(v, int | float | bool):
        return v.item()
    return v


def arange_plan(start: Any, end: Any, step: Any, dtype: Any) -> tuple[int, Any, Any, D.DType]:
    """``torch.arange``'s checks, with torch's errors: its length, start, step and dtype."""
    start, end, step = _number(start), _number(end), _number(step)
    if dtype is None:  # torch: the default float dtype when a bound is a float, else int64
        floats = any(isinstance(v, float | np.floating) for v in (start, end, step))
        dtype = D.default_float() if floats else D.int64
    dt = D.as_dtype(dtype)
    if dt is D.bool_:
        raise InvalidArgumentError("\"arange_cpu\" not implemented for 'Bool'")
    if not dt.is_floating_point:  # torch computes an integer range on int64 bounds
        start, end, step = int(start), int(end), int(step)
    if step == 0:
        raise InvalidArgumentError("step must be nonzero")
    if (end - start) * step < 0:
        raise InvalidArgumentError("upper bound and lower bound inconsistent with step sign")
    n = max(0, math.ceil((end - start) / step))
    check_numel((n,))
    return n, start, step, dt


def arange_values(start: Any, end: Any, step: Any, dtype: Any, xp: Any = np) -> Any:
    """``torch.arange``'s values as an array of ``xp``."""
    n, start, step, dt = arange_plan(start, end, step, dtype)
    if not dt.is_floating_point:
        return (xp.arange(n, dtype=np.int64) * step + start).astype(dt.np)
    # in double, rounded once (torch's vectorised kernel may differ in the last bit)
    return (xp.arange(n, dtype=np.float64) * step + start).astype(dt.np)


def arange(
    start: Any = 0,
    end: Any = None,
    step: Any = 1,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``torch.arange(end)``, ``(start, end)``, ``(start, end, step)``; bounds may be 0-d
    tensors; keywords as torch's (``arange(end=5)``)."""
    if end is None:
        start, end = 0, start
    xp = default_backend().xp
    t = Tensor._make(arange_values(start, end, step, dtype, xp), False, None)
    return _leaf(t, requires_grad)


def linspace_values(
    start: Any, end: Any, steps: Any, dtype: Any, base: float | None = None, xp: Any = np
) -> Any:
    """``torch.linspace``'s values (``torch.logspace``'s with a ``base``), computed as torch
    computes them: in the result's float dtype (double for an integer one), the first half
    counted up from start and the second down from end."""
    start, end, steps = _number(start), _number(end), _number(steps)
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
        raise EngineTypeError(f"steps must be an int, not {type(steps).__name__}")
    if steps < 0:
        raise InvalidArgumentError("number of steps must be non-negative")
    dt = D.as_dtype(dtype) if dtype is not None else D.default_float()
    if dt is D.bool_:
        name = "linspace" if base is None else "logspace"
        raise InvalidArgumentError(f"\"{name}_cpu\" not implemented for 'Bool'")
    check_numel((int(steps),))
    work = np.dtype(dt.np).type if dt.is_floating_point else np.float64
    idx = xp.arange(steps)
    lo, hi = work(start), work(end)
    step = (hi - lo) / work(max(steps - 1, 1))
    halfway = steps // 2
    up = lo + step * idx.astype(work)
    down = hi - step * (steps - 1 - idx).astype(work)
    values = xp.where(idx < halfway, up, down).astype(work)
    if steps == 1:  # torch: start itself
        values = xp.full((1,), lo, dtype=work)
    if base is not None:
        values = xp.power(work(base), values).astype(work)
    return values.astype(dt.np)


def linspace(
    start: Any,
    end: Any,
    steps: int,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``torch.linspace``: ``steps`` evenly spaced values from start to end (0-d tensors too)."""
    xp = default_backend().xp
    t = Tensor._make(linspace_values(start, end, steps, dtype, xp=xp), False, None)
    return _leaf(t, requires_grad)


def logspace(
    start: Any,
    end: Any,
    steps: int,
    base: float = 10.0,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``torch.logspace``: ``base ** linspace(start, end, steps)``."""
    xp = default_backend().xp
    values = linspace_values(start, end, steps, dtype, base=float(_number(base)), xp=xp)
    return _leaf(Tensor._make(values, False, None), requires_grad)


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
