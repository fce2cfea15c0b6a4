"""Closeness and equality: isclose (a bool tensor), allclose and equal (Python bools).

allclose and equal return Python bools as torch's do; on the wire (which answers tensors)
they give a 0-d bool tensor, which the client turns back into a bool.
"""

from __future__ import annotations

from typing import Any

from ..autograd import apply
from ..errors import InvalidArgumentError
from ..tensor import Tensor, as_tensor
from .pointwise import _bcheck, _bshape
from .table import Op, defop


def _isclose_fwd(
    xp: Any, a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Any:
    close = a == b
    floating = a.dtype.kind == "f"
    if equal_nan and floating:
        close = close | (xp.isnan(a) & xp.isnan(b))
    if rtol == 0 and atol == 0:
        return close
    if a.dtype.kind == "b":
        a, b = a.astype("float32"), b.astype("float32")
    allowed = atol + xp.abs(rtol * b)
    actual = xp.abs(a - b)
    return close | (xp.isfinite(actual) & (actual <= allowed))


def _isclose_check(inputs: Any, attrs: dict[str, Any]) -> None:
    a, b = inputs
    if a.dtype is not b.dtype:
        raise InvalidArgumentError(f"{a.dtype.scalar_name} did not match {b.dtype.scalar_name}")
    for name in ("rtol", "atol"):
        v = attrs.get(name, 0)
        if v < 0:
            raise InvalidArgumentError(
                f"{name} must be greater than or equal to zero, but got {v:g}"
            )
    _bcheck(inputs, attrs)


_CLOSE = {
    "differentiable": False,
    "check": _isclose_check,
    "shape": _bshape,
    "bounded": True,
    "arity": 2,
    "tensors": 2,
    "result": "keep",
    "dtypes": "any",
    "sig": "input, other, rtol=1e-05, atol=1e-08, equal_nan=False",
}

ISCLOSE = defop(
    "isclose",
    _isclose_fwd,
    None,
    "",
    doc="|input - other| <= atol + rtol * |other| elementwise (bool); equal_nan: NaN == NaN",
    **_CLOSE,
)


def _allclose(a: Tensor, b: Tensor, rtol: Any, atol: Any, equal_nan: bool) -> bool:
    return bool(ISCLOSE.fn(a, b, rtol, atol, equal_nan)._st.array.all())


ALLCLOSE: Op = defop(
    "allclose",
    None,
    None,
    "",
    prepare=_allclose,
    call=lambda *a, **k: as_tensor(ALLCLOSE.fn(*a, **k)),
    doc="whether isclose holds for every element (a Python bool; the wire: a 0-d bool tensor)",
    **{**_CLOSE, "check": None, "shape": None},
)


def _equal_fwd(xp: Any, a: Any, b: Any) -> Any:
    return xp.asarray(a.shape == b.shape and bool(xp.all(a == b)))


EQUAL: Op = defop(
    "equal",
    _equal_fwd,
    None,
    "",
    differentiable=False,
    arity=2,
    tensors=2,
    result="keep",
    dtypes="any",
    sig="input, other",
    prepare=lambda a, b: bool(apply(EQUAL, (a, b), {})._st.array),
    call=lambda *a, **k: as_tensor(EQUAL.fn(*a, **k)),
    doc="whether both have the same shape and elements (a Python bool; the wire: a 0-d bool "
    "tensor)",
)
