"""Elementwise ops: arithmetic, unary math, comparisons, where/clamp/maximum."""

from __future__ import annotations

import math
from typing import Any

from ..autograd import apply
from ..errors import DtypeMismatchError, EngineTypeError, InvalidArgumentError
from ..shapes import broadcast_shapes
from ..tensor import Tensor
from . import defop


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


_BIN = {"shape": _bshape, "check": _bcheck, "arity": 2, "dtypes": "any", "bounded": True}

# ------------------------------------------------------------------ arithmetic
ADD = defop(
    "add",
    lambda xp, a, b, alpha=1: a + b if alpha == 1 else a + b * alpha,
    (lambda g, n: g, lambda g, n: g if n.attrs.get("alpha", 1) == 1 else g * n.attrs["alpha"]),
    "AddBackward0",
    promote="common",
    kwargs={"alpha": 1},
    **_BIN,
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
    promote="common",
    kwargs={"alpha": 1},
    grad_fns=("SubBackward0", "RsubBackward1"),
    **{**_BIN, "check": _sub_check},
)
MUL = defop(
    "mul",
    lambda xp, a, b: a * b,
    (lambda g, n: g * n[1], lambda g, n: g * n[0]),
    "MulBackward0",
    saves=(0, 1),
    promote="common",
    **_BIN,
)
DIV = defop(
    "div",
    lambda xp, a, b: a / b,
    (lambda g, n: g / n[1], lambda g, n: -g * n[0] / (n[1] * n[1])),
    "DivBackward0",
    saves=(0, 1),
    promote="float",
    **_BIN,
)
RECIPROCAL = defop(
    "reciprocal",
    lambda xp, a: 1 / a,
    (lambda g, n: -g * n.out * n.out,),
    "ReciprocalBackward0",
    saves_out=True,
    promote="float",
    public=False,
)
DIV_SCALAR = defop(  # torch's div.Scalar, which its C++ compositions call (Python's x / 2 is not)
    "div_scalar",
    lambda xp, a, b: a / b,
    (lambda g, n: g / n[1], None),
    "DivBackward1",
    promote="float",
    arity=2,
    public=False,
)


def _neg_check(inputs: Any, attrs: dict[str, Any]) -> None:
    if inputs[0].dtype.name == "bool":
        raise InvalidArgumentError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead."
        )


NEG = defop(
    "neg", lambda xp, a: -a, (lambda g, n: -g,), "NegBackward0", check=_neg_check, dtypes="any"
)


def _pow_check(inputs: Any, attrs: dict[str, Any]) -> None:
    a, b = inputs
    from ..dtypes import result_type

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
    dtypes="any",
)


# ---------------------------------------------------------------- unary math
def _unary(name: str, fwd: Any, vjp: Any, grad_fn: str, **kw: Any) -> Any:
    kw.setdefault("promote", "float")
    return defop(name, fwd, (vjp,), grad_fn, **kw)


EXP = _unary("exp", lambda xp, a: xp.exp(a), lambda g, n: g * n.out, "ExpBackward0", saves_out=True)
LOG = _unary("log", lambda xp, a: xp.log(a), lambda g, n: g / n[0], "LogBackward0", saves=(0,))
LOG1P = _unary(
    "log1p",
    lambda xp, a: xp.log1p(a),
    lambda g, n: g / (n[0] + 1),
    "Log1PBackward0",
    saves=(0,),
    public=False,
)
SQRT = _unary(
    "sqrt",
    lambda xp, a: xp.sqrt(a),
    lambda g, n: g / (2 * n.out),
    "SqrtBackward0",
    saves_out=True,
)
SIN = _unary(
    "sin", lambda xp, a: xp.sin(a), lambda g, n: g * n[0].cos(), "SinBackward0", saves=(0,)
)
COS = _unary(
    "cos", lambda xp, a: xp.cos(a), lambda g, n: -g * n[0].sin(), "CosBackward0", saves=(0,)
)
TAN = _unary(
    "tan",
    lambda xp, a: xp.tan(a),
    lambda g, n: g * (1 + n.out * n.out),
    "TanBackward0",
    saves_out=True,
)
TANH = _unary(
    "tanh",
    lambda xp, a: xp.tanh(a),
    lambda g, n: g * (1 - n.out * n.out),
    "TanhBackward0",
    saves_out=True,
)


def _sigmoid(xp: Any, a: Any) -> Any:
    # Stable on both tails: exp of a non-positive number only.
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


SIGMOID = _unary(
    "sigmoid", _sigmoid, lambda g, n: g * (n.out * (1 - n.out)), "SigmoidBackward0", saves_out=True
)


def _erf(xp: Any, a: Any) -> Any:
    from ..backend import special

    return special(xp).erf(a).astype(a.dtype, copy=False)


ERF = _unary(
    "erf",
    _erf,
    lambda g, n: g * ((2 / math.sqrt(math.pi)) * (-(n[0] * n[0])).exp()),
    "ErfBackward0",
    saves=(0,),
    public=False,
)
SIGN = defop(
    "sign",
    lambda xp, a: xp.sign(a),
    (lambda g, n: g * 0.0,),
    "SignBackward0",
    public=False,
    dtypes="any",
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
    (lambda g, n: g * n[0].sign(),),
    "AbsBackward0",
    saves=(0,),
    check=reject_bool("\"abs_cpu\" not implemented for 'Bool'"),
    dtypes="any",
)

# --------------------------------------------------------------- comparisons
_CMP = {
    "bounded": True,
    "promote": "common",
    "differentiable": False,
    "shape": _bshape,
    "check": _bcheck,
    "arity": 2,
    "dtypes": "any",
    "result": "keep",
}
EQ = defop("eq", lambda xp, a, b: a == b, None, "", **_CMP)
NE = defop("ne", lambda xp, a, b: a != b, None, "", **_CMP)
LT = defop("lt", lambda xp, a, b: a < b, None, "", **_CMP)
LE = defop("le", lambda xp, a, b: a <= b, None, "", **_CMP)
GT = defop("gt", lambda xp, a, b: a > b, None, "", **_CMP)
GE = defop("ge", lambda xp, a, b: a >= b, None, "", **_CMP)
_LOGIC = {**_CMP, "public": False}
LOGICAL_AND = defop("logical_and", lambda xp, a, b: xp.logical_and(a, b), None, "", **_LOGIC)
LOGICAL_OR = defop("logical_or", lambda xp, a, b: xp.logical_or(a, b), None, "", **_LOGIC)
LOGICAL_NOT = defop(
    "logical_not",
    lambda xp, a: xp.logical_not(a),
    None,
    "",
    differentiable=False,
    public=False,
    result="keep",
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
    dtypes="any",
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


CLAMP = defop(
    "clamp",
    _clamp_fwd,
    (_clamp_vjp,),
    "ClampBackward1",
    saves=(0,),
    promote="common",
    check=_clamp_check,
    kwargs={"min": None, "max": None},
    dtypes="any",
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
    public=False,
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
    **_BIN,
)
MINIMUM = defop(
    "minimum",
    lambda xp, a, b: xp.minimum(a, b),
    (_extreme_vjp(0, False), _extreme_vjp(1, False)),
    "MinimumBackward0",
    saves=(0, 1),
    promote="common",
    **_BIN,
)


def _cast_fwd(xp: Any, a: Any, dtype: str) -> Any:
    from ..dtypes import as_dtype

    return a.astype(as_dtype(dtype).np)


TO = defop(
    "to",
    _cast_fwd,
    (lambda g, n: g,),  # _call_vjps casts back to the input's dtype
    "ToCopyBackward0",
    kwargs={"dtype": None},
    dtypes="any",
    result="keep",
)


# -------------------------------------------------------------- functional API
def _t(x: Any) -> Any:
    """Numbers stay Python scalars (wrapped numbers); arrays and lists become tensors."""
    if isinstance(x, Tensor | int | float | bool):
        return x
    from ..tensor import as_tensor

    return as_tensor(x)


def add(a: Any, b: Any, *, alpha: Any = 1) -> Tensor:
    if not isinstance(a, Tensor):  # torch.add(2, x): Python scalars go second
        a, b = b, a
    return apply(ADD, (_t(a), _t(b)), {} if alpha == 1 else {"alpha": alpha})


def sub(a: Any, b: Any, *, alpha: Any = 1) -> Tensor:
    return apply(SUB, (_t(a), _t(b)), {} if alpha == 1 else {"alpha": alpha})


def mul(a: Any, b: Any) -> Tensor:
    if not isinstance(a, Tensor):
        a, b = b, a
    return apply(MUL, (_t(a), _t(b)), {})


def div(a: Any, b: Any) -> Tensor:
    if not isinstance(a, Tensor) and isinstance(b, Tensor):
        # torch's ``2 / x`` is ``x.reciprocal() * 2``
        return mul(apply(RECIPROCAL, (b,), {}), a)
    return apply(DIV, (_t(a), _t(b)), {})


def neg(a: Tensor) -> Tensor:
    return apply(NEG, (a,), {})


def pow(a: Any, b: Any) -> Tensor:
    return apply(POW, (_t(a), _t(b)), {})


def reciprocal(a: Tensor) -> Tensor:
    return apply(RECIPROCAL, (a,), {})


def exp(a: Tensor) -> Tensor:
    return apply(EXP, (a,), {})


def log(a: Tensor) -> Tensor:
    return apply(LOG, (a,), {})


def log1p(a: Tensor) -> Tensor:
    return apply(LOG1P, (a,), {})


def sqrt(a: Tensor) -> Tensor:
    return apply(SQRT, (a,), {})


def sin(a: Tensor) -> Tensor:
    return apply(SIN, (a,), {})


def cos(a: Tensor) -> Tensor:
    return apply(COS, (a,), {})


def tan(a: Tensor) -> Tensor:
    return apply(TAN, (a,), {})


def tanh(a: Tensor) -> Tensor:
    return apply(TANH, (a,), {})


def sigmoid(a: Tensor) -> Tensor:
    return apply(SIGMOID, (a,), {})


def erf(a: Tensor) -> Tensor:
    return apply(ERF, (a,), {})


def sign(a: Tensor) -> Tensor:
    return apply(SIGN, (a,), {})


def abs(a: Tensor) -> Tensor:
    return apply(ABS, (a,), {})


def eq(a: Any, b: Any) -> Tensor:
    return apply(EQ, (_t(a), _t(b)), {})


def ne(a: Any, b: Any) -> Tensor:
    return apply(NE, (_t(a), _t(b)), {})


def lt(a: Any, b: Any) -> Tensor:
    return apply(LT, (_t(a), _t(b)), {})


def le(a: Any, b: Any) -> Tensor:
    return apply(LE, (_t(a), _t(b)), {})


def gt(a: Any, b: Any) -> Tensor:
    return apply(GT, (_t(a), _t(b)), {})


def ge(a: Any, b: Any) -> Tensor:
    return apply(GE, (_t(a), _t(b)), {})


def logical_and(a: Any, b: Any) -> Tensor:
    return apply(LOGICAL_AND, (_t(a), _t(b)), {})


def logical_or(a: Any, b: Any) -> Tensor:
    return apply(LOGICAL_OR, (_t(a), _t(b)), {})


def logical_not(a: Tensor) -> Tensor:
    return apply(LOGICAL_NOT, (a,), {})


def where(cond: Tensor, a: Any, b: Any) -> Tensor:
    return apply(WHERE, (cond, _t(a), _t(b)), {})


def clamp(a: Tensor, min: Any = None, max: Any = None) -> Tensor:
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        lo = -math.inf if min is None else min
        hi = math.inf if max is None else max
        return apply(CLAMP_T, (a, lo, hi), {})
    attrs = {k: v for k, v in (("min", min), ("max", max)) if v is not None}
    if not attrs:
        _clamp_check((a,), attrs)
    from ..dtypes import result_type

    dt = result_type(a, *attrs.values())  # torch promotes over the bounds too
    if dt.name == "bool":
        kernel = "clamp" if len(attrs) == 2 else f"clamp_{next(iter(attrs))}"
        raise InvalidArgumentError(f"\"{kernel}_scalar_cpu\" not implemented for 'Bool'")
    if dt is not a.dtype:  # only non-float inputs, which never require grad
        a = to(a, dt)
    return apply(CLAMP, (a,), attrs)


def maximum(a: Any, b: Any) -> Tensor:
    return apply(MAXIMUM, (_t(a), _t(b)), {})


def minimum(a: Any, b: Any) -> Tensor:
    return apply(MINIMUM, (_t(a), _t(b)), {})


def to(a: Tensor, dtype: Any) -> Tensor:
    from ..dtypes import as_dtype

    dt = as_dtype(dtype)
    if dt is a.dtype:
        return a
    return apply(TO, (a,), {"dtype": dt.name})


for _op, _fn in (
    (ADD, add),
    (SUB, sub),
    (MUL, mul),
    (DIV, div),
    (POW, pow),
    (WHERE, where),
    (CLAMP, clamp),
    (MAXIMUM, maximum),
    (MINIMUM, minimum),
    (EQ, eq),
    (NE, ne),
    (LT, lt),
    (LE, le),
    (GT, gt),
    (GE, ge),
):
    _op.call = _fn
