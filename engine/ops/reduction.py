"""Reductions: sum, mean, prod, max/min, amax/amin, logsumexp, softmax, norm, argmax."""

from __future__ import annotations

import math
from collections import namedtuple
from typing import Any

from ..autograd import apply
from ..dtypes import as_dtype
from ..errors import EngineTypeError, InvalidArgumentError
from ..shapes import normalize_dim, normalize_dims, reduced_shape
from ..tensor import Tensor
from .pointwise import MAXIMUM, MINIMUM, reject_bool, where
from .table import Op, defop


def _axis(attrs: dict[str, Any]) -> tuple[int, ...] | None:
    d = attrs.get("dim")
    return None if d is None else (tuple(d) if isinstance(d, list | tuple) else (d,))


def _rshape(shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> tuple[int, ...]:
    shape = shapes[0]
    dims = normalize_dims(attrs.get("dim"), len(shape))
    return reduced_shape(shape, dims, attrs.get("keepdim", False))


def _restore(g: Tensor, n: Any) -> Tensor:
    """Undo a reduction's shape on ``g``: put back reduced dims (size 1), then expand."""
    shape, _ = n.in_meta[0]
    axis = _axis(n.attrs)
    kept = None
    if axis is not None and not n.attrs.get("keepdim", False):
        kept = [1 if i in axis else s for i, s in enumerate(shape)]
    elif axis is None and g.ndim != len(shape):
        kept = [1] * len(shape)
    return n.F.restore(g, shape, kept)


def _restore_out(t: Tensor, n: Any) -> Tensor:
    """A reduced value reshaped so it broadcasts against the input."""
    shape, _ = n.in_meta[0]
    axis = _axis(n.attrs)
    if axis is None:
        return t.reshape([1] * len(shape))
    if not n.attrs.get("keepdim", False):
        return t.reshape([1 if i in axis else s for i, s in enumerate(shape)])
    return t


def _float_only(fname: str) -> Any:
    def check(inputs: Any, attrs: dict[str, Any]) -> None:
        dt = inputs[0].dtype
        if not dt.is_floating_point:
            raise InvalidArgumentError(
                f"{fname}(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {dt.scalar_name}"
            )

    return check


def _by_dim(name: str) -> Any:
    return lambda ins, at: f"{name}Backward{0 if at.get('dim') is None else 1}"


def _sum_fwd(xp: Any, a: Any, dim: Any = None, keepdim: bool = False) -> Any:
    dtype = None if a.dtype.kind == "f" else "int64"
    return xp.sum(a, axis=None if dim is None else tuple(dim), keepdims=keepdim, dtype=dtype)


def _dims_attr(x: Tensor, dim: Any) -> list[int] | None:
    if dim is None:
        return None
    return list(normalize_dims(dim, x.ndim))


def _red_attrs(x: Tensor, dim: Any, keepdim: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    dims = _dims_attr(x, dim)
    if dims is not None:
        attrs["dim"] = dims
    if keepdim:
        attrs["keepdim"] = True
    return attrs


def _one_dim_attrs(x: Tensor, dim: Any, keepdim: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if dim is not None:
        attrs["dim"] = normalize_dim(dim, x.ndim)
    if keepdim:
        attrs["keepdim"] = True
    return attrs


def _reduce(x: Tensor, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
    """sum/mean's arguments: a cast first when dtype is given, every dim normalized."""
    if dtype is not None:
        x = x.to(dtype)
    return (x,), _red_attrs(x, dim, keepdim)


_RED = {
    "shape": _rshape,
    "sig": "input, dim=None, keepdim=False, *, dtype=None",
    "prepare": _reduce,
    "result": "keep",
}

SUM = defop(
    "sum",
    _sum_fwd,
    (lambda g, n: _restore(g, n),),
    _by_dim("Sum"),
    grad_fns=("SumBackward0", "SumBackward1"),
    dtypes="any",
    doc="the sum of all elements, or over dim (int64 for integer and bool inputs)",
    **_RED,
    raw=True,
)


def _mean_vjp(g: Tensor, n: Any) -> Tensor:
    shape, _ = n.in_meta[0]
    axis = _axis(n.attrs)
    count = math.prod(shape[i] for i in (range(len(shape)) if axis is None else axis))
    return _restore(g / count, n)  # divide the small gradient, then expand it


MEAN = defop(
    "mean",
    lambda xp, a, dim=None, keepdim=False: xp.mean(
        a, axis=None if dim is None else tuple(dim), keepdims=keepdim
    ),
    (_mean_vjp,),
    _by_dim("Mean"),
    grad_fns=("MeanBackward0", "MeanBackward1"),
    check=_float_only("mean"),
    doc="the mean of all elements, or over dim (floating point inputs)",
    **_RED,
    raw=True,
)


def _prod_except(xp: Any, a: Any, dim: Any = None) -> Any:
    """For each element, the product of all the others along ``dim`` (all when None)."""
    shape = a.shape
    if a.ndim == 0:  # the product of no other elements
        return xp.ones_like(a)
    x = a.reshape(-1) if dim is None else xp.moveaxis(a, dim, -1)
    ones = xp.ones(x.shape[:-1] + (1,), dtype=x.dtype)
    left = xp.concatenate([ones, xp.cumprod(x, axis=-1)[..., :-1]], axis=-1)
    right = xp.flip(
        xp.concatenate([ones, xp.cumprod(xp.flip(x, -1), axis=-1)[..., :-1]], axis=-1), -1
    )
    out = left * right
    return out.reshape(shape) if dim is None else xp.moveaxis(out, -1, dim)


def _prod_except_vjp(g: Tensor, n: Any) -> Tensor:
    # d(pe_i)/d(x_j) = pe_i / x_j for j != i (inputs without zeros; see README)
    x, pe = n[0], n.out
    dim = n.attrs.get("dim")
    gp = g * pe
    total = gp.sum() if dim is None else gp.sum(dim, keepdim=True)
    return (total - gp) / x


PROD_EXCEPT = defop(
    "prod_except",
    _prod_except,
    (_prod_except_vjp,),
    "ProdExceptBackward0",
    saves=(0,),
    saves_out=True,
    sig="input, dim=None",
    variants=(),
    public=False,
    doc="each element's product of all the others along dim (prod's gradient)",
)


def _prod_fwd(xp: Any, a: Any, dim: Any = None, keepdim: bool = False) -> Any:
    dtype = None if a.dtype.kind == "f" else "int64"
    return xp.prod(a, axis=dim, keepdims=keepdim, dtype=dtype)


def _prod_args(x: Tensor, dim: Any, keepdim: bool, dtype: Any) -> Any:
    if dtype is not None:
        x = x.to(dtype)
    return (x,), ({} if dim is None else _one_dim_attrs(x, dim, keepdim))


def _prod_vjp(g: Tensor, n: Any) -> Tensor:
    dim = n.attrs.get("dim")
    return _restore(g, n) * apply(PROD_EXCEPT, (n[0],), {} if dim is None else {"dim": dim})


PROD = defop(
    "prod",
    _prod_fwd,
    (_prod_vjp,),
    lambda ins, at: f"ProdBackward{0 if at.get('dim') is None else 1}",
    saves=(0,),
    grad_fns=("ProdBackward0", "ProdBackward1"),
    dtypes="any",
    doc="the product of all elements, or along one dim",
    **{**_RED, "prepare": _prod_args},
)


def _onehot_arg(x: Tensor, dim: int, largest: bool) -> Tensor:
    """A constant mask of the first arg-extreme along ``dim`` (keepdim shape broadcastable)."""
    xp = x._xp
    a = x._st.array
    idx = xp.argmax(a, axis=dim) if largest else xp.argmin(a, axis=dim)
    mask = xp.zeros(a.shape, dtype=bool)
    xp.put_along_axis(mask, xp.expand_dims(idx, dim), True, axis=dim)
    return Tensor._make(mask, False, None)


def _extreme(name: str, largest: bool) -> Any:
    fn = "max" if largest else "min"

    def fwd(xp: Any, a: Any, dim: Any = None, keepdim: bool = False) -> Any:
        if a.size == 0:
            raise InvalidArgumentError(
                f"{fn}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument."
            )
        f = xp.max if largest else xp.min
        return f(a, axis=dim, keepdims=keepdim)

    def vjp(g: Tensor, n: Any) -> Tensor:
        x = n[0]
        dim = n.attrs.get("dim")
        if x.ndim == 0:  # max(scalar, dim=0) is the scalar itself
            return g
        if dim is None:  # ties share the gradient evenly
            mask = x == n.out
            return g * mask / mask.sum()
        return _restore(g, n) * _onehot_arg(x, dim, largest)

    def prepare(x: Tensor, dim: Any, keepdim: bool, other: Any) -> Any:
        if isinstance(dim, Tensor):  # torch.max(a, b)
            other, dim = dim, None
        if other is not None:
            return (MAXIMUM if largest else MINIMUM).fn(x, other)
        if dim is None:
            return (x,), {}
        attrs = _one_dim_attrs(x, dim, keepdim)
        values = apply(OPS_BY_NAME[name], (x,), attrs)
        # max(dim) takes bools, argmax does not: the indices come from the same values as ints
        idx_in = x.to("int32") if x.dtype.name == "bool" else x
        indices = apply(ARGMAX if largest else ARGMIN, (idx_in,), attrs)
        return MinMax(values, indices)

    def wire(x: Tensor, other: Any = None, *, dim: Any = None, keepdim: bool = False) -> Any:
        out = OPS_BY_NAME[name].fn(x, dim, keepdim, other=other)
        return out.values if isinstance(out, MinMax) else out

    return defop(
        name,
        fwd,
        (vjp,),
        lambda ins, at: f"{fn.capitalize()}Backward{1 if at.get('dim') is None else 0}",
        saves=(0,),
        saves_out=True,
        grad_fns=(f"{fn.capitalize()}Backward0", f"{fn.capitalize()}Backward1"),
        dtypes="any",
        shape=_rshape,
        result="keep",
        sig="input, dim=None, keepdim=False, *, other=None",
        prepare=prepare,
        call=wire,
        doc=f"the {fn} of all elements; (values, indices) along dim; {fn}imum with a tensor",
    )


MinMax = namedtuple("MinMax", ["values", "indices"])
OPS_BY_NAME: dict[str, Any] = {}


MAX = OPS_BY_NAME["max"] = _extreme("max", True)
MIN = OPS_BY_NAME["min"] = _extreme("min", False)


def _amax(largest: bool) -> Any:
    name = "amax" if largest else "amin"

    def fwd(xp: Any, a: Any, dim: Any = None, keepdim: bool = False) -> Any:
        f = xp.amax if largest else xp.amin
        return f(a, axis=None if dim is None else tuple(dim), keepdims=keepdim)

    def vjp(g: Tensor, n: Any) -> Tensor:
        mask = n[0] == _restore_out(n.out, n)
        axis = _axis(n.attrs)
        count = mask.sum() if axis is None else mask.sum(list(axis), keepdim=True)
        return _restore(g, n) * mask / count

    def prepare(x: Tensor, dim: Any, keepdim: bool) -> Any:
        return (x,), _red_attrs(x, None if dim in ((), []) else dim, keepdim)

    return defop(
        name,
        fwd,
        (vjp,),
        f"{name.capitalize()}Backward0",
        saves=(0,),
        saves_out=True,
        dtypes="any",
        **{**_RED, "sig": "input, dim=(), keepdim=False", "prepare": prepare},
        doc=f"the {'largest' if largest else 'smallest'} element over dim (all when dim=()); "
        "ties share the gradient",
    )


AMAX = _amax(True)
AMIN = _amax(False)


def _lse_fwd(xp: Any, a: Any, dim: Any, keepdim: bool = False) -> Any:
    axis = tuple(dim)
    m = xp.amax(a, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    out = xp.log(xp.sum(xp.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdim else xp.squeeze(out, axis=axis)


LOGSUMEXP = defop(
    "logsumexp",
    _lse_fwd,
    (lambda g, n: _restore(g, n) * (n[0] - _restore_out(n.out, n)).exp(),),
    "LogsumexpBackward0",
    saves=(0,),
    saves_out=True,
    promote="float",
    shape=_rshape,
    sig="input, dim, keepdim=False",
    prepare=lambda x, dim, keepdim: (
        (x,),
        {
            "dim": list(normalize_dims(dim, x.ndim)) if x.ndim else [],
            **({"keepdim": True} if keepdim else {}),
        },
    ),
    doc="log(sum(exp(input))) over dim, computed stably",
)


def _softmax_fwd(xp: Any, a: Any, dim: int) -> Any:
    e = xp.exp(a - xp.amax(a, axis=dim, keepdims=True))
    return e / xp.sum(e, axis=dim, keepdims=True)


def _log_softmax_fwd(xp: Any, a: Any, dim: int) -> Any:
    s = a - xp.amax(a, axis=dim, keepdims=True)
    return s - xp.log(xp.sum(xp.exp(s), axis=dim, keepdims=True))


def _softmax_args(x: Tensor, dim: int, dtype: Any) -> Any:
    if dtype is not None:
        x = x.to(dtype)
    return (x,), {"dim": normalize_dim(dim, x.ndim) if x.ndim else 0}


def _softmax_check(fname: str) -> Any:
    def check(inputs: Any, attrs: dict[str, Any]) -> None:
        dt = inputs[0].dtype
        if not dt.is_floating_point:
            raise InvalidArgumentError(
                f"\"{fname}_lastdim_kernel_impl\" not implemented for '{dt.scalar_name}'"
            )

    return check


SOFTMAX = defop(
    "softmax",
    _softmax_fwd,
    (lambda g, n: n.out * (g - (g * n.out).sum(n.attrs["dim"], keepdim=True)),),
    "SoftmaxBackward0",
    saves_out=True,
    check=_softmax_check("softmax"),
    sig="input, dim, dtype=None",
    prepare=lambda x, dim, dtype: _softmax_args(x, dim, dtype),
    variants=("function", "method", "nn"),
    doc="exp(input) normalized to sum to one along dim",
)
LOG_SOFTMAX = defop(
    "log_softmax",
    _log_softmax_fwd,
    (lambda g, n: g - n.out.exp() * g.sum(n.attrs["dim"], keepdim=True),),
    "LogSoftmaxBackward0",
    saves_out=True,
    check=_softmax_check("log_softmax"),
    sig="input, dim, dtype=None",
    prepare=lambda x, dim, dtype: _softmax_args(x, dim, dtype),
    variants=("function", "method", "nn"),
    doc="log(softmax(input, dim)), computed stably",
)


def _norm_fwd(xp: Any, a: Any, p: float = 2.0, dim: Any = None, keepdim: bool = False) -> Any:
    axis = None if dim is None else tuple(dim)
    x = xp.abs(a)
    if p == 2:
        out = xp.sqrt(xp.sum(x * x, axis=axis, keepdims=keepdim))
    elif p == 1:
        out = xp.sum(x, axis=axis, keepdims=keepdim)
    elif p == math.inf:
        out = xp.amax(x, axis=axis, keepdims=keepdim)
    elif p == -math.inf:
        out = xp.amin(x, axis=axis, keepdims=keepdim)
    elif p == 0:
        out = xp.sum(x != 0, axis=axis, keepdims=keepdim).astype(a.dtype)
    else:
        out = xp.sum(x**p, axis=axis, keepdims=keepdim) ** (1.0 / p)
    return out.astype(a.dtype, copy=False)


def _norm_vjp(g: Tensor, n: Any) -> Tensor:
    x, out, p = n[0], n.out, n.attrs.get("p", 2.0)
    gr, outr = _restore(g, n), _restore_out(out, n)
    if p == 0:  # piecewise constant; gr (not g) has the input's shape
        return gr * 0.0
    if p == 1:
        return gr * x.sign()
    if p == 2:
        return where(outr == 0, 0.0, gr * x / outr)
    if math.isinf(p):
        mask = x.abs() == outr
        axis = _axis(n.attrs)
        count = mask.sum() if axis is None else mask.sum(list(axis), keepdim=True)
        return gr * x.sign() * mask / count
    return where(outr == 0, 0.0, gr * x * x.abs() ** (p - 2) / outr ** (p - 1))


def _norm_check(inputs: Any, attrs: dict[str, Any]) -> None:
    dt = inputs[0].dtype
    if not dt.is_floating_point:
        raise InvalidArgumentError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{dt.scalar_name}"
        )


def _norm_args(x: Tensor, p: Any, dim: Any, keepdim: bool, dtype: Any) -> Any:
    if dtype is not None:  # computed in dtype (at least the input's precision), as torch's
        _norm_check((x,), {})
        want = as_dtype(dtype)
        if not want.is_floating_point or want.itemsize < x.dtype.itemsize:
            raise InvalidArgumentError(
                f"linalg.vector_norm: the dtype of the input ({x.dtype.scalar_name}) should be "
                f"convertible without narrowing to the specified dtype ({want.scalar_name})"
            )
        x = x.to(want)
    if p in ("fro", None):
        p = 2.0
    if isinstance(p, str | bool):
        raise InvalidArgumentError(f"norm: unsupported p={p!r}; use a number, inf or 'fro'")
    attrs = _red_attrs(x, dim, keepdim)
    if float(p) != 2.0:
        attrs["p"] = float(p)
    return (x,), attrs


NORM = defop(
    "norm",
    _norm_fwd,
    (_norm_vjp,),
    "LinalgVectorNormBackward0",
    saves=(0,),
    saves_out=True,
    check=_norm_check,
    shape=_rshape,
    sig="input, p='fro', dim=None, keepdim=False, *, dtype=None",
    method_sig="p='fro', dim=None, keepdim=False, dtype=None",
    prepare=_norm_args,
    doc="the vector p-norm over all elements or over dim ('fro' and None: 2; p: any number, "
    "inf, -inf); dtype: computed in dtype",
)


def _arg(largest: bool) -> Any:
    def fwd(xp: Any, a: Any, dim: Any = None, keepdim: bool = False) -> Any:
        f = xp.argmax if largest else xp.argmin
        if dim is None:
            out = f(a.reshape(-1))
            return out.reshape((1,) * a.ndim) if keepdim else out
        return f(a, axis=dim, keepdims=keepdim)

    return fwd


_ARG = {
    **_RED,
    "sig": "input, dim=None, keepdim=False",
    "prepare": lambda x, dim, keepdim: ((x,), _one_dim_attrs(x, dim, keepdim)),
}
ARGMAX = defop(
    "argmax",
    _arg(True),
    None,
    "",
    differentiable=False,
    check=reject_bool("argmax(): does not support bool input"),
    dtypes="any",
    doc="the index of the first largest element (of the flattened input when dim is None)",
    **_ARG,
)
ARGMIN = defop(
    "argmin",
    _arg(False),
    None,
    "",
    differentiable=False,
    check=reject_bool("argmin(): does not support bool input"),
    dtypes="any",
    doc="the index of the first smallest element (of the flattened input when dim is None)",
    **_ARG,
)


# ------------------------------------------------------------------ variance, std
def _moment_check(inputs: Any, attrs: dict[str, Any], fname: str = "std and var") -> None:
    if not inputs[0].dtype.is_floating_point:
        raise InvalidArgumentError(f"{fname} only support floating point and complex dtypes")


def _count(n: Any) -> int:
    """How many elements each reduced value of a node's input summarises."""
    shape, _ = n.in_meta[0]
    axis = _axis(n.attrs)
    return math.prod(shape[i] for i in (range(len(shape)) if axis is None else axis))


def _var_fwd(xp: Any, a: Any, dim: Any = None, keepdim: bool = False, correction: float = 1) -> Any:
    axis = None if dim is None else tuple(dim)
    count = math.prod(a.shape[i] for i in (range(a.ndim) if axis is None else axis))
    d = a - xp.mean(a, axis=axis, keepdims=True)
    s = xp.sum(d * d, axis=axis, keepdims=keepdim)
    return s / max(count - correction, 0)  # dof <= 0: inf or nan, as torch


def _centered(n: Any) -> Any:
    """input - mean(input) over the node's dims (differentiable; raw-capable)."""
    x = n[0]
    axis = _axis(n.attrs)
    total = x.sum() if axis is None else x.sum(axis)
    m = total / _count(n)
    if axis is None:
        return x - m
    shape, _ = n.in_meta[0]
    return x - m.reshape(tuple(1 if i in axis else s for i, s in enumerate(shape)))


def _var_scale(n: Any) -> float:
    dof = max(_count(n) - n.attrs.get("correction", 1), 0)
    return 2.0 / dof if dof > 0 else math.inf


def _var_vjp(g: Any, n: Any) -> Any:
    # torch's var_backward: (2 / dof) * grad * (input - mean)
    return _restore(g, n) * _centered(n) * _var_scale(n)


def _std_vjp(g: Tensor, n: Any) -> Tensor:
    # torch's std_backward: var_backward(grad / (2 * std)), zero where std is zero
    gs = where(n.out == 0, 0.0, g / (n.out * 2))
    return _restore(gs, n) * _centered(n) * _var_scale(n)


def _moment_args(fname: str) -> Any:
    def prepare(x: Tensor, dim: Any, unbiased: Any, keepdim: bool, correction: Any) -> Any:
        if isinstance(dim, bool):  # torch.var(x, False): the legacy (input, unbiased) form
            if unbiased is not None:
                raise EngineTypeError(f"{fname}(): argument 'dim' must be tuple of ints, not bool")
            dim, unbiased = None, dim
        if unbiased is not None and correction is not None:
            raise EngineTypeError(
                f"{fname}() received an invalid combination of arguments: give unbiased or "
                "correction, not both"
            )
        c = correction if correction is not None else (1 if unbiased in (None, True) else 0)
        if isinstance(c, bool) or not isinstance(c, int | float):
            raise EngineTypeError(
                f"{fname}(): argument 'correction' must be Number, not {type(c).__name__}"
            )
        attrs = _red_attrs(x, None if dim in ((), []) else dim, keepdim)
        if c != 1:
            attrs["correction"] = c
        return (x,), attrs

    return prepare


_MOMENT = {
    "saves": (0,),
    "check": _moment_check,
    "shape": _rshape,
    "sig": "input, dim=None, unbiased=None, keepdim=False, *, correction=None",
}

VAR = defop(
    "var",
    _var_fwd,
    (_var_vjp,),
    "VarBackward0",
    prepare=_moment_args("var"),
    raw=True,
    doc="the variance over all elements or dim, divided by N - correction "
    "(correction=1, or unbiased=False for 0)",
    **_MOMENT,
)
STD = defop(
    "std",
    lambda xp, a, dim=None, keepdim=False, correction=1: xp.sqrt(
        _var_fwd(xp, a, dim, keepdim, correction)
    ),
    (_std_vjp,),
    "StdBackward0",
    saves_out=True,
    prepare=_moment_args("std"),
    doc="the standard deviation: sqrt(var(input, dim, correction=, keepdim=))",
    **_MOMENT,
)


# ------------------------------------------------------------ var_mean, std_mean
class MomentPair(tuple[Any, ...]):
    """var_mean's and std_mean's ``(var or std, mean)``: a tuple, as torch returns."""

    __slots__ = ()


MOMENT_MEAN = defop(
    "moment_mean",
    lambda xp, a, dim=None, keepdim=False, of="var": xp.mean(
        a, axis=None if dim is None else tuple(dim), keepdims=keepdim
    ),
    (_mean_vjp,),
    lambda ins, at: f"{at.get('of', 'var').capitalize()}MeanBackward0",
    grad_fns=("VarMeanBackward0", "StdMeanBackward0"),
    check=_moment_check,
    shape=_rshape,
    raw=True,
    sig="input, dim=None, keepdim=False, *, of='var'",
    prepare=lambda x, dim, keepdim, of: (
        (x,),
        {**_red_attrs(x, None if dim in ((), []) else dim, keepdim), "of": of},
    ),
    variants=(),
    doc="var_mean's and std_mean's second result: the mean, with their grad_fn "
    "(of: 'var' or 'std')",
)


def _moments(name: str, first: Any, vjp: Any, **kw: Any) -> Any:
    fname = name.split("_")[0]
    args = _moment_args(name)

    def prepare(x: Tensor, dim: Any, unbiased: Any, keepdim: bool, correction: Any) -> Any:
        ins, attrs = args(x, dim, unbiased, keepdim, correction)
        mean_attrs = {k: v for k, v in attrs.items() if k != "correction"}
        head = apply(OPS_BY_NAME[name], ins, attrs)  # its check speaks of var_mean/std_mean
        return MomentPair((head, apply(MOMENT_MEAN, ins, {**mean_attrs, "of": fname})))

    op: Op = defop(
        name,
        first,
        (vjp,),
        f"{fname.capitalize()}MeanBackward0",
        prepare=prepare,
        call=lambda *a, **k: op.fn(*a, **k)[0],
        variants=("function",),
        doc=f"({fname}, mean) over all elements or dim, as {fname}() and mean() (the wire: the "
        f"{fname}; moment_mean gives the mean)",
        **kw,
        **{**_MOMENT, "check": lambda ins, at: _moment_check(ins, at, name)},
    )
    OPS_BY_NAME[name] = op
    return op


VAR_MEAN = _moments("var_mean", _var_fwd, _var_vjp, raw=True)
STD_MEAN = _moments("std_mean", STD.forward, _std_vjp, saves_out=True)
