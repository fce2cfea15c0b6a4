"""Cumulative ops along one dim: cumsum and cumprod (torch's CumsumBackward0/CumprodBackward0).

cumprod's gradient is exact where the input has zeros, as torch's, and so is its second
derivative (``create_graph=True``): see ``_cumprod_vjp``. Both take O(n) memory.
"""

from __future__ import annotations

from typing import Any

from ..shapes import normalize_dim
from ..tensor import Tensor
from .pointwise import where
from .table import defop


def _scan(kind: str) -> Any:
    def fwd(xp: Any, a: Any, dim: int) -> Any:
        dtype = None if a.dtype.kind == "f" else "int64"  # integers and bools: int64, as torch
        f = xp.cumsum if kind == "sum" else xp.cumprod
        if a.ndim == 0:
            return f(a.reshape(1), axis=0, dtype=dtype).reshape(())
        return f(a, axis=dim, dtype=dtype)

    return fwd


def _scan_args(x: Tensor, dim: Any, dtype: Any) -> Any:
    if dtype is not None:
        x = x.to(dtype)
    return (x,), {"dim": normalize_dim(dim, x.ndim)}


def _reversed_cumsum_fwd(xp: Any, a: Any, dim: int) -> Any:
    if a.ndim == 0:
        return a.copy()
    return xp.flip(xp.cumsum(xp.flip(a, axis=dim), axis=dim), axis=dim)


REVERSED_CUMSUM = defop(
    "reversed_cumsum",
    _reversed_cumsum_fwd,
    (lambda g, n: g.cumsum(n.attrs["dim"]),),
    "ReversedCumsumBackward0",
    sig="input, dim",
    variants=(),
    public=False,
    doc="the sums of each element and all after it along dim (cumsum's gradient)",
)


def _rcumsum(t: Tensor, dim: int) -> Tensor:
    from ..autograd import apply

    return apply(REVERSED_CUMSUM, (t,), {"dim": dim})


_SCAN = {
    "sig": "input, dim, *, dtype=None",
    "prepare": _scan_args,
    "result": "keep",
    "dtypes": "any",
    "shape": lambda shapes, attrs: shapes[0],
    "variants": ("function", "method", "inplace"),
}

CUMSUM = defop(
    "cumsum",
    _scan("sum"),
    (lambda g, n: _rcumsum(g, n.attrs["dim"]),),
    "CumsumBackward0",
    doc="the running sums along dim (int64 for integer and bool inputs)",
    **_SCAN,
)


def _const(a: Any) -> Tensor:
    return Tensor._make(a, False, None)


def _cumprod_vjp(g: Tensor, n: Any) -> Tensor:
    x, out, dim = n[0], n.out, n.attrs["dim"]
    if x.ndim == 0 or x.shape[dim] == 1:
        return g
    zero = x._st.array == 0
    if not bool(zero.any()):
        return _rcumsum(g * out, dim) / x
    # Per row, with z1, z2 its first two zeros, grad_i = sum_{j >= i} g_j prod_{k <= j, k != i}
    # x_k is: before z1, rcumsum(g * out) / x; at z1, rcumsum(g * cumprod(x, z1 := 1)); between
    # z1 and z2, x_z1 * rcumsum(g * cumprod(x, z1 := 1)) / x; at z2, x_z1 * rcumsum(g *
    # cumprod(x, z1 := 1, z2 := 1)); after z2, 0. Each form equals the gradient as a function
    # of x near this point, so its derivative is cumprod's second derivative, zeros included.
    seen = x._xp.cumsum(zero, axis=dim)
    before, first = _const(seen == 0), _const(zero & (seen == 1))
    between, second = _const(~zero & (seen == 1)), _const(zero & (seen == 2))
    x1 = where(first, 1.0, x)
    y1 = x1.cumprod(dim)
    y2 = where(second, 1.0, x1).cumprod(dim)
    at_first = where(first, x, 0.0).sum(dim, keepdim=True)  # x_z1: zero, with its gradient
    r1 = _rcumsum(g * y1, dim)
    parts = [
        where(before, _rcumsum(g * out, dim) / where(before, x, 1.0), 0.0),
        where(first, r1, 0.0),
        where(between, at_first * r1 / where(between, x, 1.0), 0.0),
        where(second, at_first * _rcumsum(g * y2, dim), 0.0),
    ]
    return parts[0] + parts[1] + parts[2] + parts[3]


CUMPROD = defop(
    "cumprod",
    _scan("prod"),
    (_cumprod_vjp,),
    "CumprodBackward0",
    saves=(0,),
    saves_out=True,
    doc="the running products along dim; exact gradients where the input has zeros",
    **_SCAN,
)
