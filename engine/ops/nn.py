"""matmul, activations and losses (``torch.nn.functional``'s names)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import apply, check_numel
from ..backend import special
from ..errors import (
    DtypeMismatchError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    InvalidValueError,
    ShapeMismatchError,
    ShapeValueError,
)
from ..shapes import broadcast_shapes
from ..tensor import Tensor
from .pointwise import DIV_SCALAR, reject_bool, where
from .reduction import LOG_SOFTMAX
from .table import defop

log_softmax = LOG_SOFTMAX.fn

# ---------------------------------------------------------------------- matmul


def _matmul_grad_fn(ins: Any, attrs: dict[str, Any]) -> str:
    # torch's _matmul_impl: batched products end in _unsafe_view, except 2D @ ND with a
    # 2D input that requires grad, folded as (b.mT @ a.t()).mT.contiguous() (a clone, or
    # nothing but the transpose when the result is already contiguous)
    x, y = ins
    a, b = x.ndim, y.ndim
    name = {
        (2, 2): "MmBackward0",
        (2, 1): "MvBackward0",
        (1, 1): "DotBackward0",
        (1, 2): "SqueezeBackward4",
    }.get((a, b))
    if name is not None:
        return name
    xs, ys = x.shape, y.shape
    if a == 3 and b == 3 and xs[0] != ys[0] and xs[0] == 1 and x.requires_grad:
        a, xs = 2, xs[1:]  # torch squeezes a batch of one and retries as 2D @ 3D
    if a == 2 and b >= 3 and x.requires_grad:
        return "TransposeBackward0" if 1 in (xs[0], ys[-1]) else "CloneBackward0"
    return "UnsafeViewBackward0"


def _matmul_shape(shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> tuple[int, ...]:
    a, b = tuple(shapes[0]), tuple(shapes[1])
    if not a or not b:
        raise InvalidArgumentError(
            f"both arguments to matmul need to be at least 1D, but they are {len(a)}D and {len(b)}D"
        )
    if len(a) == 1 and len(b) == 1:
        if a[0] != b[0]:
            raise ShapeMismatchError(
                f"inconsistent tensor size, expected tensor [{a[0]}] and src [{b[0]}] to have "
                f"the same number of elements, but got {a[0]} and {b[0]} elements respectively"
            )
        return ()
    if len(b) == 1:
        if a[-1] != b[0]:
            if len(a) == 2:
                raise ShapeMismatchError(
                    f"size mismatch, got input ({a[0]}), mat ({a[0]}x{a[1]}), vec ({b[0]})"
                )
            raise ShapeMismatchError(
                f"mat1 and mat2 shapes cannot be multiplied ({math.prod(a[:-1])}x{a[-1]} and "
                f"{b[0]}x1)"
            )
        return a[:-1]
    if len(a) == 1:
        if a[0] != b[-2]:
            raise ShapeMismatchError(
                f"mat1 and mat2 shapes cannot be multiplied (1x{a[0]} and {b[-2]}x{b[-1]})"
            )
        return b[:-2] + (b[-1],)
    if a[-1] != b[-2]:
        if len(a) == 2 and len(b) == 2:
            raise ShapeMismatchError(
                f"mat1 and mat2 shapes cannot be multiplied ({a[0]}x{a[1]} and {b[0]}x{b[1]})"
            )
        raise ShapeMismatchError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{math.prod(a[:-2]) if len(b) > 2 else 1}, {a[-1]}] but got: "
            f"[{math.prod(b[:-2]) if len(b) > 2 else 1}, {b[-2]}]."
        )
    batch = broadcast_shapes(a[:-2], b[:-2])
    return batch + (a[-2], b[-1])


def _matmul_check(inputs: Any, attrs: dict[str, Any]) -> None:
    a, b = inputs
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise InvalidArgumentError("matmul(): both arguments must be tensors")
    if a.dtype is not b.dtype:
        raise DtypeMismatchError(
            f"expected m1 and m2 to have the same dtype, but got: {a.dtype.cpp_name} != "
            f"{b.dtype.cpp_name}"
        )
    _matmul_shape([a._st.array.shape, b._st.array.shape], attrs)


def _matmul_vjp_a(g: Tensor, n: Any) -> Tensor:
    b, F = n[1], n.F
    ad, bd = len(n.in_meta[0][0]), b.ndim
    if ad == 1 and bd == 1:
        return g * b
    if bd == 1:
        return F.unsqueeze(g, -1) * b
    if ad == 1:
        return F.squeeze(F.matmul(F.unsqueeze(g, -2), F.mT(b)), -2)
    return F.matmul(g, F.mT(b))


def _matmul_vjp_b(g: Tensor, n: Any) -> Tensor:
    a, F = n[0], n.F
    ad, bd = a.ndim, len(n.in_meta[1][0])
    if ad == 1 and bd == 1:
        return g * a
    if ad == 1:
        return F.unsqueeze(a, -1) * F.unsqueeze(g, -2)
    if bd == 1:
        return F.squeeze(F.matmul(F.mT(a), F.unsqueeze(g, -1)), -1)
    return F.matmul(F.mT(a), g)


MATMUL = defop(
    "matmul",
    lambda xp, a, b: xp.matmul(a, b),
    (_matmul_vjp_a, _matmul_vjp_b),
    _matmul_grad_fn,
    saves=(0, 1),
    shape=_matmul_shape,
    check=_matmul_check,
    arity=2,
    grad_fns=(
        "MmBackward0",
        "MvBackward0",
        "DotBackward0",
        "SqueezeBackward4",
        "UnsafeViewBackward0",
        "CloneBackward0",
        "TransposeBackward0",
    ),
    dtypes="any",
    sig="input, other",
    variants=("function", "method", "__matmul__", "__rmatmul__"),
    doc="the matrix product as torch.matmul (1-d, 2-d and batched operands)",
    raw=True,
)
matmul = MATMUL.fn


def _mm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 2 or b.ndim != 2:
        raise InvalidArgumentError("self must be a matrix")
    return matmul(a, b)


MM = defop(
    "mm",
    None,
    None,
    "MmBackward0",
    sig="input, mat2",
    arity=2,
    prepare=_mm,
    public=False,
    dtypes="any",
    doc="the product of two matrices",
)
DOT = defop(
    "dot",
    None,
    None,
    "DotBackward0",
    sig="input, tensor",
    arity=2,
    prepare=lambda a, b: matmul(a, b),
    public=False,
    dtypes="any",
    doc="the inner product of two 1-d tensors",
)


# ----------------------------------------------------------------- activations
RELU = defop(
    "relu",
    lambda xp, a: xp.maximum(a, 0),
    (lambda g, n: g * (n.out > 0),),
    "ReluBackward0",
    saves_out=True,
    check=reject_bool("Boolean inputs not supported for relu"),
    dtypes="any",
    variants=("function", "method", "inplace", "nn"),
    doc="max(input, 0)",
)
LEAKY_RELU = defop(
    "leaky_relu",
    lambda xp, a, negative_slope=0.01: xp.where(a > 0, a, a * negative_slope),
    (lambda g, n: where(n[0] > 0, g, g * n.attrs.get("negative_slope", 0.01)),),
    "LeakyReluBackward0",
    saves=(0,),
    promote="common",
    sig="input, negative_slope=0.01",
    prepare=lambda x, slope: ((x,), {"negative_slope": slope}),
    variants=("nn",),
    doc="input where positive, else negative_slope * input",
)

_SQRT_2_PI = math.sqrt(2 / math.pi)


def _gelu_fwd(xp: Any, a: Any, approximate: str = "none") -> Any:
    if approximate == "tanh":
        return 0.5 * a * (1 + xp.tanh(_SQRT_2_PI * (a + 0.044715 * a**3)))
    return (0.5 * a * (1 + special(xp).erf(a / math.sqrt(2)))).astype(a.dtype, copy=False)


def _gelu_vjp(g: Tensor, n: Any) -> Tensor:
    x = n[0]
    if n.attrs.get("approximate", "none") == "tanh":
        t = (_SQRT_2_PI * (x + 0.044715 * x**3)).tanh()
        d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_PI * (1 + 3 * 0.044715 * x * x)
        return g * d
    cdf = 0.5 * (1 + (x / math.sqrt(2)).erf())
    pdf = (-0.5 * x * x).exp() / math.sqrt(2 * math.pi)
    return g * (cdf + x * pdf)


def _gelu_check(inputs: Any, attrs: dict[str, Any]) -> None:
    if attrs.get("approximate", "none") not in ("none", "tanh"):
        raise InvalidArgumentError("approximate argument must be either none or tanh.")


GELU = defop(
    "gelu",
    _gelu_fwd,
    (_gelu_vjp,),
    "GeluBackward0",
    saves=(0,),
    promote="float",
    check=_gelu_check,
    sig="input, approximate='none'",
    variants=("nn",),
    doc="input * Phi(input) (approximate='tanh': the tanh formula)",
)


def _softplus_fwd(xp: Any, a: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    z = a * beta
    return xp.where(z > threshold, a, xp.log1p(xp.exp(xp.minimum(z, threshold))) / beta)


def _softplus_vjp(g: Tensor, n: Any) -> Tensor:
    beta, threshold = n.attrs.get("beta", 1.0), n.attrs.get("threshold", 20.0)
    z = n[0] * beta
    return where(z > threshold, g, g * z.sigmoid())


SOFTPLUS = defop(
    "softplus",
    _softplus_fwd,
    (_softplus_vjp,),
    "SoftplusBackward0",
    saves=(0,),
    promote="float",
    sig="input, beta=1.0, threshold=20.0",
    prepare=lambda x, beta, threshold: ((x,), {"beta": beta, "threshold": threshold}),
    variants=("nn",),
    doc="log(1 + exp(beta * input)) / beta, linear above threshold",
)


# ----------------------------------------------------------------------- losses
_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: Any) -> None:
    if reduction not in _REDUCTIONS:
        raise InvalidValueError(f"{reduction} is not a valid value for reduction")


def _reduce(xp: Any, loss: Any, reduction: str) -> Any:
    if reduction == "mean":
        return xp.mean(loss)
    if reduction == "sum":
        return xp.sum(loss)
    return loss


def _loss_scale(g: Tensor, n: Any, shape: tuple[int, ...]) -> Any:
    """The upstream gradient spread over each element of an unreduced loss."""
    red = n.attrs.get("reduction", "mean")
    if red == "mean":
        return g / max(math.prod(shape), 1) if math.prod(shape) else g * math.nan
    return g


def _mse_vjp(sign: float) -> Any:
    def vjp(g: Tensor, n: Any) -> Tensor:
        x, t = n[0], n[1]
        shape = broadcast_shapes(n.in_meta[0][0], n.in_meta[1][0])
        # scale the (usually 0-d) upstream gradient first: two passes over the data, not three
        return (_loss_scale(g, n, shape) * (2 * sign)) * (x - t)

    return vjp


def _mse_check(inputs: Any, attrs: dict[str, Any]) -> None:
    _check_reduction(attrs.get("reduction", "mean"))
    a, b = inputs
    if a._st.array.shape != b._st.array.shape:
        # the broadcast difference is materialized even when the loss is reduced
        check_numel(broadcast_shapes(a._st.array.shape, b._st.array.shape))


MSE_LOSS = defop(
    "mse_loss",
    lambda xp, a, b, reduction="mean": _reduce(xp, xp.square(a - b), reduction),
    (_mse_vjp(1.0), _mse_vjp(-1.0)),
    "MseLossBackward0",
    saves=(0, 1),
    promote="common",
    check=_mse_check,
    arity=2,
    tensors=2,
    sig="input, target, reduction='mean'",
    variants=("nn",),
    doc="the squared error (input - target) ** 2, averaged ('mean'), summed or not ('none')",
)


def _nll_parts(xp: Any, logp: Any, target: Any, ignore_index: int) -> tuple[Any, Any, Any]:
    """Class-last log-probs, the picked entries' one-hot mask and the kept-target mask."""
    lp = logp if logp.ndim == 1 else xp.moveaxis(logp, 1, -1)
    keep = target != ignore_index
    safe = xp.where(keep, target, 0)
    onehot = xp.zeros(lp.shape, dtype=bool)
    xp.put_along_axis(onehot, safe[..., None], True, axis=-1)
    onehot &= keep[..., None]
    return lp, onehot, keep


def _nll_fwd(
    xp: Any, logp: Any, target: Any, reduction: str = "mean", ignore_index: int = -100
) -> Any:
    lp, onehot, keep = _nll_parts(xp, logp, target, ignore_index)
    loss = -xp.sum(xp.where(onehot, lp, 0), axis=-1).astype(logp.dtype)
    if reduction == "none":
        return loss
    total = xp.sum(loss)
    if reduction == "sum":
        return total
    return (total / xp.sum(keep)).astype(logp.dtype)


def _nll_vjp(g: Tensor, n: Any) -> Tensor:
    xp = g._xp
    target = n[1]._st.array
    shape, dt = n.in_meta[0]
    ignore = n.attrs.get("ignore_index", -100)
    _, onehot, keep = _nll_parts(xp, xp.zeros(shape, dtype=dt.np), target, ignore)
    if len(shape) > 1:
        onehot = xp.moveaxis(onehot, -1, 1)
    red = n.attrs.get("reduction", "mean")
    coef = -onehot.astype(dt.np)
    if red == "mean":
        coef = coef / xp.sum(keep)
    if red == "none" and len(shape) > 1:
        g = g.unsqueeze(1)
    return g * Tensor._make(coef.astype(dt.np), False, None)


def _nll_check(inputs: Any, attrs: dict[str, Any]) -> None:
    _check_reduction(attrs.get("reduction", "mean"))
    logp, target = inputs
    if not isinstance(target, Tensor):
        raise InvalidArgumentError("nll_loss: target must be a tensor of class indices")
    ls, ts = logp._st.array.shape, target._st.array.shape
    if len(ls) == 0:
        raise InvalidArgumentError("input tensor should be 1D or more")
    if len(ls) <= 2 and len(ts) > 1:
        raise ShapeMismatchError("0D or 1D target tensor expected, multi-target not supported")
    if len(ls) == 1:
        if ts == (1,):  # torch takes it; this engine wants the class as a 0-d tensor
            raise ShapeMismatchError("for 1D input, give the target as a 0-d tensor")
        if ts != ():
            raise ShapeValueError(
                f"For 1D input, 1D target must have size 1, but got target size: {ts[0]}"
            )
    elif ts[:1] != ls[:1]:
        raise ShapeValueError(
            f"Expected input batch_size ({ls[0]}) to match target batch_size "
            f"({ts[0] if ts else 0})."
        )
    elif tuple(ts[1:]) != tuple(ls[2:]):
        raise ShapeMismatchError(f"Expected target size {list(ls[:1] + ls[2:])}, got {list(ts)}")
    if target.dtype.name != "int64":
        raise DtypeMismatchError(
            f"expected target dtype to be Long or Byte, but got {target.dtype.scalar_name}"
        )
    c = ls[0] if len(ls) == 1 else ls[1]
    t = target._st.array
    ignore = attrs.get("ignore_index", -100)
    bad = t[(t != ignore) & ((t < 0) | (t >= c))]
    if bad.size:
        raise IndexOutOfRangeError(f"Target {int(bad.reshape(-1)[0])} is out of bounds.")


NLL_LOSS = defop(
    "nll_loss",
    _nll_fwd,
    (_nll_vjp, None),
    lambda ins, at: "NllLoss2DBackward0" if ins[0].ndim == 4 else "NllLossBackward0",
    saves=(1,),
    check=_nll_check,
    arity=2,
    tensors=2,
    sig="input, target, reduction='mean', ignore_index=-100",
    prepare=lambda *a: _nll_loss(*a),
    variants=("nn",),
    result="keep",
    grad_fns=("NllLossBackward0", "NllLoss2DBackward0"),
    doc="the negative log-likelihood of int64 class targets under log-probabilities",
)


def _nll_loss(logp: Tensor, target: Tensor, reduction: str, ignore_index: int) -> Any:
    attrs: dict[str, Any] = {}
    if reduction != "mean":
        attrs["reduction"] = reduction
    if ignore_index != -100:
        attrs["ignore_index"] = ignore_index
    if (logp.ndim == 3 or logp.ndim > 4) and logp.numel():
        # torch's nll_loss_nd: fold into the 4D nll_loss2d, then unfold an unreduced loss
        _nll_check((logp, target), attrs)
        n, c = logp.shape[:2]
        out = apply(NLL_LOSS, (logp.reshape(n, c, 1, -1), target.reshape(n, 1, -1)), attrs)
        return out.reshape(*target.shape) if reduction == "none" else out
    return (logp, target), attrs


def _cross_entropy(
    input: Tensor, target: Tensor, reduction: str, ignore_index: int, label_smoothing: float
) -> Tensor:
    """``F.cross_entropy`` with class indices: ``nll_loss(log_softmax(input, 1), target)``."""
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise InvalidArgumentError(
            f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
        )
    if not input.dtype.is_floating_point:
        raise InvalidArgumentError(
            f"\"log_softmax_lastdim_kernel_impl\" not implemented for '{input.dtype.scalar_name}'"
        )
    if isinstance(target, Tensor) and target.shape == input.shape:
        # class probabilities, as torch composes them
        if not target.dtype.is_floating_point:
            raise DtypeMismatchError(
                "Expected floating point type for target with class probabilities, got "
                f"{target.dtype.scalar_name}"
            )
        dim = 1 if input.ndim > 1 else 0
        if label_smoothing > 0:
            smoothed: Any = target * (1 - label_smoothing) + label_smoothing / input.shape[dim]
            target = smoothed
        picked = log_softmax(input, dim) * target
        if reduction == "none":
            return -picked.sum(dim)
        total = -picked.sum()
        if reduction == "sum":
            return total
        return apply(DIV_SCALAR, (total, input.numel() // input.shape[dim]), {})
    dim = 1 if input.ndim > 1 else 0
    logp = log_softmax(input, dim)
    nll = NLL_LOSS.fn(logp, target, reduction, ignore_index)
    if label_smoothing == 0:
        return nll
    # torch's cross_entropy_loss_label_smoothing: mix in the uniform target's loss
    keep = Tensor._make(target._st.array != ignore_index, False, None)
    smooth = where(keep, -logp.sum(dim), 0.0)
    if reduction == "mean":
        smooth = smooth.sum() / keep.sum()
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / input.shape[dim])


CROSS_ENTROPY = defop(
    "cross_entropy",
    None,
    None,
    "NllLossBackward0",
    arity=2,
    tensors=2,
    sig="input, target, reduction='mean', ignore_index=-100, label_smoothing=0.0",
    prepare=_cross_entropy,
    variants=("nn",),
    grad_fns=(
        "NllLossBackward0",
        "NllLoss2DBackward0",
        "ViewBackward0",
        "NegBackward0",
        "DivBackward1",
        "AddBackward0",
    ),
    doc="logits and int64 class indices or class probabilities, as "
    "torch.nn.functional.cross_entropy",
)


def _bce_fwd(xp: Any, x: Any, t: Any, reduction: str = "mean") -> Any:
    lx = xp.maximum(xp.log(x), -100)
    l1 = xp.maximum(xp.log1p(-x), -100)
    return _reduce(xp, -(t * lx + (1 - t) * l1), reduction)


def _bce_vjp_x(g: Tensor, n: Any) -> Tensor:
    x, t = n[0], n[1]
    scale = _loss_scale(g, n, n.in_meta[0][0])
    return scale * (x - t) / ((1 - x) * x).clamp(min=1e-12)


def _bce_vjp_t(g: Tensor, n: Any) -> Tensor:
    x = n[0]
    scale = _loss_scale(g, n, n.in_meta[0][0])
    return scale * ((-x).log1p().clamp(min=-100) - x.log().clamp(min=-100))


def _bce_check(inputs: Any, attrs: dict[str, Any]) -> None:
    _check_reduction(attrs.get("reduction", "mean"))
    x, t = inputs
    if not isinstance(t, Tensor) or x._st.array.shape != t._st.array.shape:
        raise ShapeValueError(
            f"Using a target size ({getattr(t, 'shape', ())!r}) that is different to the input "
            f"size ({x.shape!r}) is deprecated. Please ensure they have the same size."
        )
    a = x._st.array
    if a.size and bool(((a < 0) | (a > 1)).any()):
        raise InvalidArgumentError("all elements of input should be between 0 and 1")


BINARY_CROSS_ENTROPY = defop(
    "binary_cross_entropy",
    _bce_fwd,
    (_bce_vjp_x, _bce_vjp_t),
    "BinaryCrossEntropyBackward0",
    saves=(0, 1),
    promote="common",
    check=_bce_check,
    arity=2,
    tensors=2,
    sig="input, target, reduction='mean'",
    variants=("nn",),
    doc="the binary cross entropy of probabilities input against targets in [0, 1]",
)

del np
