"""Elementwise ops: arithmetic, unary math, comparisons, where/clamp/maximum."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..autograd import apply
from ..backend import backend_of, special
from ..dtypes import as_dtype, result_type
from ..errors import DtypeMismatchError, EngineTypeError, InvalidArgumentError
from ..gradmode import _mode
from ..shapes import broadcast_shapes
from ..tensor import Tensor, as_tensor
from .table import defop, operand


def _bshape(shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> tuple[int, ...]:
    return broadcast_shapes(*shapes)


def _bcheck(inputs: Any, attrs: dict[str, Any]) -> None:
    """Raise torch's broadcast error before computing (fast when shapes agree)."""
    first = None
    for x in inputs:
        if isinstance(x, Tensor):
            s = x._st.array.shape
            if first is None:
                first = s
            elif s != first:
                broadcast_shapes(*(y._st.array.shape for y in inputs if isinstance(y, Tensor)))
                return


def _is_scalar(x: Any) -> bool:
    return not isinstance(x, Tensor)


_BIN = {
    "shape": _bshape,
    "check": _bcheck,
    "arity": 2,
    "sig": "input, other",
    "dtypes": "any",
    "bounded": True,
    "elementwise": True,
}
_ALPHA = {"sig": "input, other, *, alpha=1", "promote": "common"}


def _dunders(name: str, inplace: bool = True) -> tuple[str, ...]:
    """function, method, in place and the operator's three dunders (``__add__``, ...)."""
    ops = (f"__{name}__", f"__r{name}__", *((f"__i{name}__",) if inplace else ()))
    return ("function", "method", *(("inplace",) if inplace else ()), *ops)


def _scalar_second(a: Any, b: Any, *attrs: Any) -> Any:
    """torch.add(2, x) and 2 * x: a Python scalar goes second (the ops commute)."""
    if not isinstance(a, Tensor):
        a, b = b, a
    return (operand(a), operand(b)), ({} if not attrs or attrs[0] == 1 else {"alpha": attrs[0]})


# ------------------------------------------------------------------ arithmetic
ADD = defop(
    "add",
    lambda xp, a, b, alpha=1: a + b if alpha == 1 else a + b * alpha,
    (lambda g, n: g, lambda g, n: g if n.attrs.get("alpha", 1) == 1 else g * n.attrs["alpha"]),
    "AddBackward0",
    prepare=_scalar_second,
    plain_prepare=True,
    variants=_dunders("add"),
    doc="input + alpha * other, broadcast",
    **{**_BIN, **_ALPHA},
    raw=True,
)


def _sub_check(inputs: Any, attrs: dict[str, Any]) -> None:
    # torch's sub_check: a Python bool counts as a bool tensor (a wrapped number)
    bools = [
        isinstance(x, bool) or (isinstance(x, Tensor) and x.dtype.name == "bool") for x in inputs
    ]
    if all(bools):
        raise InvalidArgumentError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
            "or `logical_xor()` operator instead."
        )
    if any(bools):
        raise InvalidArgumentError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    _bcheck(inputs, attrs)


SUB = defop(
    "sub",
    lambda xp, a, b, alpha=1: a - b if alpha == 1 else a - b * alpha,
    (lambda g, n: g, lambda g, n: -g if n.attrs.get("alpha", 1) == 1 else g * -n.attrs["alpha"]),
    lambda ins, at: "RsubBackward1" if _is_scalar(ins[0]) else "SubBackward0",
    grad_fns=("SubBackward0", "RsubBackward1"),
    variants=_dunders("sub"),
    aliases=("subtract",),
    doc="input - alpha * other, broadcast",
    **{**_BIN, **_ALPHA, "check": _sub_check},
    raw=True,
)
MUL = defop(
    "mul",
    lambda xp, a, b: a * b,
    (lambda g, n: g * n[1], lambda g, n: g * n[0]),
    "MulBackward0",
    saves=(0, 1),
    scaled_by=(1, 0),
    promote="common",
    prepare=_scalar_second,
    plain_prepare=True,
    variants=_dunders("mul"),
    aliases=("multiply",),
    doc="input * other, broadcast",
    **_BIN,
    raw=True,
)


def _div_args(a: Any, b: Any) -> Any:
    if not isinstance(a, Tensor) and isinstance(b, Tensor):
        return MUL.fn(apply(RECIPROCAL, (b,), {}), a)  # torch's ``2 / x``: x.reciprocal() * 2
    return (operand(a), operand(b)), {}


DIV = defop(
    "div",
    lambda xp, a, b: a / b,
    (lambda g, n: g / n[1], lambda g, n: -g * n[0] / (n[1] * n[1])),
    "DivBackward0",
    saves=(0, 1),
    promote="float",
    prepare=_div_args,
    plain_prepare=True,
    variants=_dunders("truediv"),
    aliases=("divide", "true_divide"),
    doc="input / other (true division, at least float32), broadcast",
    **_BIN,
    raw=True,
)
RECIPROCAL = defop(
    "reciprocal",
    lambda xp, a: 1 / a,
    (lambda g, n: -g * n.out * n.out,),
    "ReciprocalBackward0",
    saves_out=True,
    promote="float",
    public=False,
    variants=("function", "method", "inplace"),
    doc="1 / input",
    raw=True,
)
DIV_SCALAR = defop(  # torch's div.Scalar, which its C++ compositions call (Python's x / 2 is not)
    "div_scalar",
    lambda xp, a, b: a / b,
    (lambda g, n: g / n[1], None),
    "DivBackward1",
    promote="float",
    arity=2,
    sig="input, other",
    variants=(),
    public=False,
    doc="tensor / Python scalar as torch's div.Scalar (its C++ compositions' DivBackward1)",
    raw=True,
)


def _neg_check(inputs: Any, attrs: dict[str, Any]) -> None:
    if inputs[0].dtype.name == "bool":
        raise InvalidArgumentError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead."
        )


NEG = defop(
    "neg",
    lambda xp, a: -a,
    (lambda g, n: -g,),
    "NegBackward0",
    check=_neg_check,
    dtypes="any",
    variants=("function", "method", "inplace", "__neg__"),
    aliases=("negative",),
    doc="-input",
    raw=True,
)


def _pow_check(inputs: Any, attrs: dict[str, Any]) -> None:
    a, b = inputs
    dt = result_type(a, b)
    if dt.name == "bool" and isinstance(b, Tensor):  # a scalar exponent is a copy or ones
        raise InvalidArgumentError("\"pow\" not implemented for 'Bool'")
    if not dt.is_floating_point:
        exps = b._st.array if isinstance(b, Tensor) else b
        if (exps < 0).any() if isinstance(b, Tensor) else exps < 0:
            raise InvalidArgumentError("Integers to negative integer powers are not allowed.")
    _bcheck(inputs, attrs)


def _pow_grad_fn(ins: Any, attrs: dict[str, Any]) -> str:
    if _is_scalar(ins[1]):
        return "PowBackward0"
    return "PowBackward2" if _is_scalar(ins[0]) else "PowBackward1"


def _pow_base_vjp(g: Tensor, n: Any) -> Tensor:
    x, e = n[0], n[1]
    if _is_scalar(e):
        if e == 0:
            return g * 0.0
        return g * (e * x ** (e - 1))
    return where(e == 0, 0.0, g * (e * x ** (e - 1)))


def _pow_exp_vjp(g: Tensor, n: Any) -> Tensor:
    x, e, out = n[0], n[1], n.out
    if _is_scalar(x):
        if x > 0:
            return g * (out * math.log(x))
        if x == 0:
            return where(e >= 0, 0.0, g * (out * -math.inf))
        return g * math.nan
    return where((x == 0) & (e >= 0), 0.0, g * (out * x.log()))


POW = defop(
    "pow",
    lambda xp, a, b: a**b,
    (_pow_base_vjp, _pow_exp_vjp),
    _pow_grad_fn,
    saves=(0, 1),
    saves_out=True,
    promote="common",
    grad_fns=("PowBackward0", "PowBackward1", "PowBackward2"),
    shape=_bshape,
    check=_pow_check,
    arity=2,
    sig="input, exponent",
    variants=_dunders("pow"),
    dtypes="any",
    doc="input ** exponent (either may be a Python scalar), broadcast",
)


def _hypot_check(inputs: Any, attrs: dict[str, Any]) -> None:
    dt = result_type(*inputs)
    if not dt.is_floating_point:
        raise InvalidArgumentError(f"\"hypot_cpu\" not implemented for '{dt.scalar_name}'")
    _bcheck(inputs, attrs)


HYPOT = defop(
    "hypot",
    lambda xp, a, b: xp.hypot(a, b),
    (lambda g, n: g * n[0] / n.out, lambda g, n: g * n[1] / n.out),
    "HypotBackward0",
    saves=(0, 1),
    saves_out=True,
    promote="common",
    tensors=2,
    variants=("function", "method", "inplace"),
    doc="sqrt(input ** 2 + other ** 2) elementwise, without overflow; broadcast",
    **{**_BIN, "check": _hypot_check, "dtypes": "float"},
    raw=True,
)


# ------------------------------------------------- floor division and remainders
def _no_derivative(name: str) -> Any:
    """torch's VJP where it has no formula: backward raises (grad_fn NotImplemented)."""

    def vjp(g: Any, n: Any) -> Any:
        raise InvalidArgumentError(f"derivative for aten::{name} is not implemented")

    return vjp


_NOT_IMPLEMENTED = "NotImplemented"  # name(): torch::autograd::NotImplemented


def _rounding_check(kernel: str, scalar_other: bool = True) -> Any:
    """torch's errors of ``//``, ``%`` and fmod: no bools, no integer division by zero."""

    def check(inputs: Any, attrs: dict[str, Any]) -> None:
        dt = result_type(*inputs)
        if dt.name == "bool":
            raise InvalidArgumentError(f"\"{kernel}_cpu\" not implemented for 'Bool'")
        if not dt.is_floating_point and not _mode.stand_ins:
            b = inputs[1]
            zero = (b._st.array == 0).any() if isinstance(b, Tensor) else b == 0
            if zero:
                raise InvalidArgumentError("ZeroDivisionError")
        _bcheck(inputs, attrs)

    return check


def _quotient(n: Any, how: str) -> Any:
    """floor(a / b) or trunc(a / b) of the saved operands as a constant (its derivative is 0,
    as torch's ``div(rounding_mode=...)``): an array on the raw path, a Tensor otherwise."""
    a, b = n[0], n[1]
    if isinstance(b, Tensor):
        arr_a = a._st.array if isinstance(a, Tensor) else a
        return Tensor._make(_round(b._xp, how, arr_a, b._st.array), False, None)
    return _round(backend_of(b).xp, how, a, b)


def _round(xp: Any, how: str, a: Any, b: Any) -> Any:
    q = xp.floor_divide(a, b) if how == "floor" else xp.trunc(a / b)
    return xp.asarray(q, dtype=b.dtype)


FLOOR_DIVIDE = defop(
    "floor_divide",
    lambda xp, a, b: xp.floor_divide(a, b),
    (_no_derivative("floor_divide"), _no_derivative("floor_divide")),
    _NOT_IMPLEMENTED,
    promote="common",
    variants=_dunders("floordiv"),
    doc="input // other: the quotient rounded down, as Python's (no derivative in torch)",
    # no shortcut: its backward only raises, and it is no training loop's hot call
    **{**_BIN, "check": _rounding_check("div_floor"), "elementwise": False},
    raw=True,
)


def _remainder_grad_fn(ins: Any, attrs: dict[str, Any]) -> str:
    if _is_scalar(ins[0]):
        return _NOT_IMPLEMENTED
    return "RemainderBackward0" if _is_scalar(ins[1]) else "RemainderBackward1"


def _remainder_other_vjp(g: Any, n: Any) -> Any:
    if isinstance(n[0], int | float):  # torch's remainder(Scalar, Tensor) has no formula
        raise InvalidArgumentError("derivative for aten::remainder is not implemented")
    return -g * _quotient(n, "floor")


REMAINDER = defop(
    "remainder",
    lambda xp, a, b: xp.remainder(a, b),
    (lambda g, n: g, _remainder_other_vjp),
    _remainder_grad_fn,
    saves=(0, 1),
    promote="common",
    grad_fns=("RemainderBackward0", "RemainderBackward1", _NOT_IMPLEMENTED),
    variants=_dunders("mod"),
    doc="input % other: the remainder with the sign of other, as Python's",
    **{**_BIN, "check": _rounding_check("remainder")},
    raw=True,
)
FMOD = defop(
    "fmod",
    lambda xp, a, b: xp.fmod(a, b),
    (lambda g, n: g, lambda g, n: -g * _quotient(n, "trunc")),
    lambda ins, at: "FmodBackward0" if _is_scalar(ins[1]) else "FmodBackward1",
    saves=(0, 1),
    promote="common",
    grad_fns=("FmodBackward0", "FmodBackward1"),
    tensors=1,
    variants=("function", "method", "inplace"),
    doc="the C remainder of input / other: the sign of input",
    **{**_BIN, "check": _rounding_check("fmod")},
    raw=True,
)


# ---------------------------------------------------------------- unary math
def _unary(name: str, fwd: Any, vjp: Any, grad_fn: str, **kw: Any) -> Any:
    """A float-valued elementwise op: function, method and torch's in-place ``Tensor.X_``."""
    kw.setdefault("promote", "float")
    kw.setdefault("elementwise", True)
    kw.setdefault("variants", ("function", "method", "inplace"))
    return defop(name, fwd, (vjp,), grad_fn, **kw)


EXP = _unary(
    "exp",
    lambda xp, a: xp.exp(a),
    lambda g, n: g * n.out,
    "ExpBackward0",
    saves_out=True,
    doc="e ** input, elementwise",
    raw=True,
)
LOG = _unary(
    "log",
    lambda xp, a: xp.log(a),
    lambda g, n: g / n[0],
    "LogBackward0",
    saves=(0,),
    doc="the natural logarithm, elementwise",
    raw=True,
)
LOG1P = _unary(
    "log1p",
    lambda xp, a: xp.log1p(a),
    lambda g, n: g / (n[0] + 1),
    "Log1PBackward0",
    saves=(0,),
    public=False,
    doc="log(1 + input), accurate near zero",
    raw=True,
)
SQRT = _unary(
    "sqrt",
    lambda xp, a: xp.sqrt(a),
    lambda g, n: g / (2 * n.out),
    "SqrtBackward0",
    saves_out=True,
    doc="the square root, elementwise",
    raw=True,
)
SIN = _unary(
    "sin",
    lambda xp, a: xp.sin(a),
    lambda g, n: g * n.F.cos(n[0]),
    "SinBackward0",
    saves=(0,),
    doc="the sine, elementwise (radians)",
    raw=True,
)
COS = _unary(
    "cos",
    lambda xp, a: xp.cos(a),
    lambda g, n: -g * n.F.sin(n[0]),
    "CosBackward0",
    saves=(0,),
    doc="the cosine, elementwise (radians)",
    raw=True,
)
TAN = _unary(
    "tan",
    lambda xp, a: xp.tan(a),
    lambda g, n: g * (1 + n.out * n.out),
    "TanBackward0",
    saves_out=True,
    doc="the tangent, elementwise (radians)",
    raw=True,
)
TANH = _unary(
    "tanh",
    lambda xp, a: xp.tanh(a),
    lambda g, n: n.F.tanh_backward(g, n.out),
    "TanhBackward0",
    saves_out=True,
    variants=("function", "method", "inplace", "nn"),
    doc="the hyperbolic tangent, elementwise",
    raw=True,
)


def _sigmoid(xp: Any, a: Any) -> Any:
    # Stable on both tails: exp of a non-positive number only.
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


SIGMOID = _unary(
    "sigmoid",
    _sigmoid,
    lambda g, n: g * (n.out * (1 - n.out)),
    "SigmoidBackward0",
    saves_out=True,
    variants=("function", "method", "inplace", "nn"),
    doc="1 / (1 + exp(-input)), stable on both tails",
    raw=True,
)


def _erf(xp: Any, a: Any) -> Any:
    return special(xp).erf(a).astype(a.dtype, copy=False)


ERF = _unary(
    "erf",
    _erf,
    lambda g, n: g * ((2 / math.sqrt(math.pi)) * n.F.exp(-(n[0] * n[0]))),
    "ErfBackward0",
    saves=(0,),
    public=False,
    doc="the Gauss error function, elementwise",
    raw=True,
)
SIGN = defop(
    "sign",
    lambda xp, a: xp.sign(a),
    (lambda g, n: g * 0.0,),
    "SignBackward0",
    public=False,
    dtypes="any",
    variants=("function", "method", "inplace"),
    doc="-1, 0 or 1 by the sign of each element",
    raw=True,
)


def reject_bool(message: str) -> Any:
    """A check that refuses a bool first input with torch's message."""

    def check(inputs: Any, attrs: dict[str, Any]) -> None:
        if inputs[0].dtype.name == "bool":
            raise InvalidArgumentError(message)

    return check


ABS = defop(
    "abs",
    lambda xp, a: xp.abs(a),
    (lambda g, n: g * n.F.sign(n[0]),),
    "AbsBackward0",
    saves=(0,),
    check=reject_bool("\"abs_cpu\" not implemented for 'Bool'"),
    dtypes="any",
    variants=("function", "method", "inplace", "__abs__"),
    doc="the absolute value, elementwise",
    raw=True,
)

# --------------------------------------------------------------- comparisons
_CMP = {
    "bounded": True,
    "promote": "common",
    "differentiable": False,
    "shape": _bshape,
    "check": _bcheck,
    "arity": 2,
    "sig": "input, other",
    "dtypes": "any",
    "result": "keep",
}


def _compare(name: str, fwd: Any, text: str) -> Any:
    variants = ("function", "method", f"__{name}__")
    return defop(name, fwd, None, "", variants=variants, doc=f"input {text} other (bool)", **_CMP)


EQ = _compare("eq", lambda xp, a, b: a == b, "==")
NE = _compare("ne", lambda xp, a, b: a != b, "!=")
LT = _compare("lt", lambda xp, a, b: a < b, "<")
LE = _compare("le", lambda xp, a, b: a <= b, "<=")
GT = _compare("gt", lambda xp, a, b: a > b, ">")
GE = _compare("ge", lambda xp, a, b: a >= b, ">=")
_LOGIC = {**_CMP, "public": False}
LOGICAL_AND = defop(
    "logical_and",
    lambda xp, a, b: xp.logical_and(a, b),
    None,
    "",
    variants=("function", "method", "__and__"),
    doc="elementwise logical and (bool)",
    **_LOGIC,
)
LOGICAL_OR = defop(
    "logical_or",
    lambda xp, a, b: xp.logical_or(a, b),
    None,
    "",
    variants=("function", "method", "__or__"),
    doc="elementwise logical or (bool)",
    **_LOGIC,
)
LOGICAL_NOT = defop(
    "logical_not",
    lambda xp, a: xp.logical_not(a),
    None,
    "",
    differentiable=False,
    public=False,
    result="keep",
    variants=("function", "method", "__invert__"),
    doc="elementwise logical not (bool)",
)


# ------------------------------------------------------ where / clamp / extrema
def _where_check(inputs: Any, attrs: dict[str, Any]) -> None:
    cond = inputs[0]
    if not isinstance(cond, Tensor):
        raise EngineTypeError("where(): argument 'condition' must be a Tensor")
    if cond.dtype.name != "bool":
        raise DtypeMismatchError(
            "where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{cond.dtype.scalar_name}"
        )
    _bcheck(inputs, attrs)


WHERE = defop(
    "where",
    lambda xp, c, a, b: xp.where(c, a, b),
    (None, lambda g, n: where(n[0], g, 0.0), lambda g, n: where(n[0], 0.0, g)),
    "WhereBackward0",
    saves=(0,),
    promote="common",
    promote_args=(1, 2),
    shape=_bshape,
    check=_where_check,
    arity=3,
    sig="condition, input, other",
    variants=("function",),
    dtypes="any",
    doc="input where condition (a bool tensor) holds, else other; broadcast",
)


def _clamp_fwd(xp: Any, a: Any, min: Any = None, max: Any = None) -> Any:
    if min is not None:
        a = xp.maximum(a, min)
    if max is not None:
        a = xp.minimum(a, max)
    return a


def _clamp_vjp(g: Tensor, n: Any) -> Tensor:
    x, lo, hi = n[0], n.attrs.get("min"), n.attrs.get("max")
    if lo is not None and hi is not None:
        return g * ((x >= lo) & (x <= hi))
    if lo is not None:
        return g * (x >= lo)
    return g * (x <= hi)


def _clamp_check(inputs: Any, attrs: dict[str, Any]) -> None:
    if attrs.get("min") is None and attrs.get("max") is None:
        raise InvalidArgumentError("torch.clamp: At least one of 'min' or 'max' must not be None")


def _clamp_prepare(a: Tensor, min: Any, max: Any) -> Any:
    tmin, tmax = isinstance(min, Tensor), isinstance(max, Tensor)
    if tmin != tmax and (min is not None and max is not None):
        bound = min if tmin else max
        # torch's overloads: both bounds tensors, or both numbers (a 0-d tensor that does not
        # require grad reads as a number)
        if bound.ndim or bound.requires_grad:
            raise EngineTypeError(
                "clamp() received an invalid combination of arguments - got (Tensor, "
                f"min={type(min).__name__}, max={type(max).__name__}), but expected one of: "
                "(Tensor input, Tensor min = None, Tensor max = None) or (Tensor input, "
                "Number min = None, Number max = None)"
            )
        min, max = (min.item(), max) if tmin else (min, max.item())  # a 0-d tensor: a Number
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        lo = -math.inf if min is None else min
        hi = math.inf if max is None else max
        return apply(CLAMP_T, (a, lo, hi), {})
    attrs = {k: v for k, v in (("min", min), ("max", max)) if v is not None}
    if not attrs:
        _clamp_check((a,), attrs)
    dt = result_type(a, *attrs.values())  # torch promotes over the bounds too
    if dt.name == "bool":
        kernel = "clamp" if len(attrs) == 2 else f"clamp_{next(iter(attrs))}"
        raise InvalidArgumentError(f"\"{kernel}_scalar_cpu\" not implemented for 'Bool'")
    if dt is not a.dtype:  # only non-float inputs, which never require grad
        a = TO.fn(a, dt)
    return (a,), attrs


CLAMP = defop(
    "clamp",
    _clamp_fwd,
    (_clamp_vjp,),
    "ClampBackward1",
    saves=(0,),
    promote="common",
    check=_clamp_check,
    sig="input, min=None, max=None",
    prepare=_clamp_prepare,
    variants=("function", "method", "inplace"),
    aliases=("clip",),
    dtypes="any",
    doc="input limited to [min, max] (either bound may be None or a tensor)",
)


def _clamp_t_vjp(i: int) -> Any:
    def vjp(g: Tensor, n: Any) -> Tensor:
        x, lo, hi = n[0], n[1], n[2]
        below, above = x < lo, x > hi
        if i == 0:
            return g * (~below & ~above)
        return g * below if i == 1 else g * above

    return vjp


CLAMP_T = defop(
    "clamp_tensor",
    lambda xp, a, lo, hi: xp.minimum(xp.maximum(a, lo), hi),
    (_clamp_t_vjp(0), _clamp_t_vjp(1), _clamp_t_vjp(2)),
    "ClampBackward0",
    saves=(0, 1, 2),
    promote="common",
    shape=_bshape,
    check=_bcheck,
    arity=3,
    sig="input, min, max",
    variants=(),
    public=False,
    doc="clamp with tensor bounds (ClampBackward0)",
)


def _extreme_vjp(mine: int, bigger: bool) -> Any:
    def vjp(g: Tensor, n: Any) -> Tensor:
        a, b = n[mine], n[1 - mine]
        wins = a > b if bigger else a < b
        return where(a == b, g / 2, g * wins)

    return vjp


MAXIMUM = defop(
    "maximum",
    lambda xp, a, b: xp.maximum(a, b),
    (_extreme_vjp(0, True), _extreme_vjp(1, True)),
    "MaximumBackward0",
    saves=(0, 1),
    promote="common",
    doc="the elementwise larger of input and other (ties share the gradient)",
    **_BIN,
)
MINIMUM = defop(
    "minimum",
    lambda xp, a, b: xp.minimum(a, b),
    (_extreme_vjp(0, False), _extreme_vjp(1, False)),
    "MinimumBackward0",
    saves=(0, 1),
    promote="common",
    doc="the elementwise smaller of input and other (ties share the gradient)",
    **_BIN,
)


def _cast_fwd(xp: Any, a: Any, dtype: str) -> Any:
    return a.astype(as_dtype(dtype).np)


def _to_prepare(a: Tensor, dtype: Any) -> Any:
    dt = as_dtype(dtype)
    return a if dt is a.dtype else ((a,), {"dtype": dt.name})


TO = defop(
    "to",
    _cast_fwd,
    (lambda g, n: g,),  # _call_vjps casts back to the input's dtype
    "ToCopyBackward0",
    sig="input, dtype",
    prepare=_to_prepare,
    variants=("function",),  # Tensor.to(*args) is engine.methods' own (devices, other)
    dtypes="any",
    result="keep",
    doc="a differentiable cast to dtype (ToCopyBackward0); the same tensor when it has it",
)


# --------------------------------------------------------- compositions and fills
SQUARE = defop(
    "square",
    None,
    None,
    "PowBackward0",
    prepare=lambda x: POW.fn(x, 2),
    variants=("function", "method", "inplace"),
    public=False,
    dtypes="any",
    doc="input ** 2",
)


ZERO = defop(
    "zero",
    lambda xp, a: xp.zeros_like(a),
    (lambda g, n: g * 0.0,),
    "ZeroBackward0",
    variants=("function", "inplace"),
    public=False,
    wire=("zero_",),
    dtypes="any",
    doc="zeros of input's shape and dtype (zero_: fill input with zeros)",
)


def _fill_args(x: Tensor, value: Any) -> Any:
    if isinstance(value, Tensor) and value.ndim:
        raise InvalidArgumentError(
            f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
            "dimensions."
        )
    return (x, operand(value)), {}


FILL = defop(
    "fill",
    lambda xp, a, value: xp.full_like(a, value),
    (lambda g, n: g * 0.0, lambda g, n: g.sum()),
    lambda ins, at: "FillBackward0" if _is_scalar(ins[1]) else "FillBackward1",
    sig="input, value",
    arity=2,
    tensors=1,
    prepare=_fill_args,
    variants=("function", "inplace"),
    inplace_names={"FillBackward0": "FillBackward2", "FillBackward1": "FillBackward3"},
    grad_fns=("FillBackward0", "FillBackward1", "FillBackward2", "FillBackward3"),
    public=False,
    wire=("fill_",),
    dtypes="any",
    result="keep",
    doc="value (a number or a 0-d tensor) in input's shape and dtype (fill_: fill input with it)",
)


def _copy_args(x: Tensor, src: Any) -> Any:
    src = as_tensor(src, like=x)
    broadcast_shapes(src.shape, x.shape)  # torch's error when src does not broadcast
    return (x, src), {}


COPY = defop(
    "copy",
    lambda xp, a, src: xp.broadcast_to(src, a.shape).astype(a.dtype),
    (lambda g, n: g * 0.0, lambda g, n: g),  # input's old values are gone; src's flow through
    "CopyBackwards",
    sig="input, src",
    arity=2,
    tensors=1,
    shape=lambda shapes, at: shapes[0],
    prepare=_copy_args,
    variants=("function", "inplace"),
    public=False,
    wire=("copy_",),
    dtypes="any",
    result="keep",
    doc="src's values broadcast and cast to input's shape and dtype (copy_: into input)",
)

# names the VJPs above and the other op modules call
where: Callable[..., Any] = WHERE.fn
