"""The torch-namespace functions (``engine.exp``, ``engine.matmul``, ...) and Tensor methods.

Every function here is a thin call into the op table; nothing here differentiates.
"""

from __future__ import annotations

from typing import Any

from .ops.indexing import index, index_put
from .ops.nn import (
    binary_cross_entropy,
    cross_entropy,
    gelu,
    leaky_relu,
    matmul,
    mm,
    mse_loss,
    nll_loss,
    relu,
    softplus,
)
from .ops.pointwise import (
    abs,
    add,
    clamp,
    cos,
    div,
    eq,
    erf,
    exp,
    ge,
    gt,
    le,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,
    reciprocal,
    sigmoid,
    sign,
    sin,
    sqrt,
    sub,
    tan,
    tanh,
    to,
    where,
)
from .ops.reduction import (
    amax,
    amin,
    argmax,
    argmin,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    softmax,
    sum,
)
from .ops.shape import (
    broadcast_to,
    cat,
    clone,
    expand,
    expand_as,
    flatten,
    permute,
    reshape,
    select,
    squeeze,
    stack,
    sum_to_size,
    t,
    transpose,
    unsqueeze,
    view,
)

__all__ = [
    "abs",
    "add",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "binary_cross_entropy",
    "broadcast_to",
    "cat",
    "clamp",
    "clip",
    "clone",
    "copy",
    "cos",
    "cross_entropy",
    "div",
    "dot",
    "eq",
    "erf",
    "exp",
    "expand",
    "expand_as",
    "fill",
    "flatten",
    "ge",
    "gelu",
    "gt",
    "index",
    "index_put",
    "le",
    "leaky_relu",
    "log",
    "log1p",
    "log_softmax",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "lt",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mm",
    "mse_loss",
    "mul",
    "ne",
    "neg",
    "nll_loss",
    "norm",
    "permute",
    "pow",
    "prod",
    "reciprocal",
    "relu",
    "reshape",
    "select",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "softplus",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "sub",
    "sum",
    "sum_to_size",
    "t",
    "tan",
    "tanh",
    "to",
    "transpose",
    "unsqueeze",
    "view",
    "where",
    "zero",
]

clip = clamp
multiply = mul
divide = div
subtract = sub
true_divide = div


def dot(a: Any, b: Any) -> Any:
    return matmul(a, b)


def square(x: Any) -> Any:
    return pow(x, 2)


def zero(x: Any) -> Any:
    """``zero_`` out of place: ZeroBackward0 (no gradient flows back)."""
    return mul(x, 0) if x.requires_grad else _const_like(x, 0)


def fill(x: Any, value: Any) -> Any:
    """``fill_`` out of place."""
    return _const_like(x, value)


def copy(x: Any, src: Any) -> Any:
    """``copy_`` out of place: the source's values, broadcast and cast to ``x``'s shape."""
    out = expand(src, *x.shape) if tuple(src.shape) != tuple(x.shape) else src
    return out if out.dtype is x.dtype else to(out, x.dtype)


def _const_like(x: Any, value: Any) -> Any:
    from .tensor import Tensor

    return Tensor._make(x._xp.full(x.shape, value, dtype=x.dtype.np), False, None)


def _wire() -> None:
    """Give Tensor's operators and methods this module (they are defined before it)."""
    import sys

    # by sys.modules: the package attribute ``engine.tensor`` is the factory function
    this = sys.modules[__name__]
    for name in ("engine.tensor", "engine.methods"):
        setattr(sys.modules[name], "F", this)  # noqa: B010


_wire()
