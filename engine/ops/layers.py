"""The ops ``torch.nn``'s layers and losses need: linear, layer_norm, embedding, silu, elu,
huber and smooth-L1 losses, one_hot (``binary_cross_entropy_with_logits`` is in ``nn_extra``).

Declared as the rest of the table: a forward on raw arrays, VJPs in the engine's own
differentiable ops, PyTorch's grad_fn names. ``linear`` is composed as torch composes it
(``addmm`` for a matrix with a bias, ``matmul`` otherwise).
"""

from __future__ import annotations

from typing import Any

from ..autograd import apply
from ..errors import (
    DtypeMismatchError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeMismatchError,
    ShapeValueError,
)
from ..tensor import Tensor
from .indexing import INDEX_BACKWARD
from .nn import MATMUL, _check_reduction, _loss_scale, _reduce
from .pointwise import where
from .table import defop

__all__ = [
    "ADDMM",
    "ELU",
    "EMBEDDING",
    "HUBER_LOSS",
    "LAYER_NORM",
    "LINEAR",
    "ONE_HOT",
    "SILU",
    "SMOOTH_L1_LOSS",
]


# ---------------------------------------------------------------------- linear
def _addmm_check(inputs: Any, attrs: dict[str, Any]) -> None:
    bias, a, b = inputs
    if not (a.dtype is b.dtype is bias.dtype):
        raise DtypeMismatchError(
            f"self and mat2 must have the same dtype, but got {a.dtype.cpp_name} and "
            f"{b.dtype.cpp_name}"
        )
    (n, k), (k2, m) = a._st.array.shape, b._st.array.shape
    if k != k2:
        raise ShapeMismatchError(
            f"mat1 and mat2 shapes cannot be multiplied ({n}x{k} and {k2}x{m})"
        )


def _addmm_fwd(xp: Any, bias: Any, a: Any, b: Any, beta: float = 1, alpha: float = 1) -> Any:
    prod = xp.matmul(a, b)
    if alpha != 1:
        prod = prod * alpha
    if beta == 0:  # as torch: input is ignored (nan and inf in it do not propagate)
        return prod + xp.zeros_like(bias)
    return (bias if beta == 1 else bias * beta) + prod


def _scaled(g: Tensor, n: Any, name: str) -> Tensor:
    k = n.attrs.get(name, 1)
    return g if k == 1 else g * k


ADDMM = defop(
    "addmm",
    _addmm_fwd,
    (
        lambda g, n: _scaled(g, n, "beta"),
        lambda g, n: _scaled(MATMUL.fn(g, n[2].mT), n, "alpha"),
        lambda g, n: _scaled(MATMUL.fn(n[1].mT, g), n, "alpha"),
    ),
    "AddmmBackward0",
    saves=(1, 2),
    check=_addmm_check,
    arity=3,
    tensors=3,
    sig="input, mat1, mat2, *, beta=1, alpha=1",
    doc="beta * input + alpha * (mat1 @ mat2) (torch.addmm; linear on a matrix with a bias)",
)


def _linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear``: ``input @ weight.T + bias``, with torch's grad_fn for each input rank."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise InvalidArgumentError("linear(): input and weight must be tensors")
    if weight.ndim != 2:
        raise InvalidArgumentError(f"linear(): weight must be 2-D, got {weight.ndim}-D")
    wt = weight.t()
    if bias is None:
        return MATMUL.fn(input, wt)
    if input.ndim == 2:
        return apply(ADDMM, (bias, input, wt), {})
    if input.ndim == 0:
        raise InvalidArgumentError("linear(): input must be at least 1-D")
    out = apply(ADDMM, (bias, input.reshape(-1, input.shape[-1]), wt), {})
    return out.view(*input.shape[:-1], weight.shape[0])


LINEAR = defop(
    "linear",
    None,
    None,
    "AddmmBackward0",
    arity=3,
    tensors=2,
    sig="input, weight, bias=None",
    prepare=_linear,
    variants=("nn",),
    grad_fns=(
        "AddmmBackward0",
        "MmBackward0",
        "ViewBackward0",
        "UnsafeViewBackward0",
        "SqueezeBackward4",
    ),
    doc="input, weight and an optional bias (null), as torch.nn.functional.linear",
)


# ----------------------------------------------------------------- activations
def _silu_vjp(g: Tensor, n: Any) -> Tensor:
    s = n[0].sigmoid()
    return g * (s * (1 + n[0] * (1 - s)))


SILU = defop(
    "silu",
    lambda xp, a: a / (1 + xp.exp(-a)),
    (_silu_vjp,),
    "SiluBackward0",
    saves=(0,),
    promote="float",
    sig="input",
    variants=("nn",),
    doc="input * sigmoid(input) (the swish)",
)


def _elu_fwd(xp: Any, a: Any, alpha: float = 1.0) -> Any:
    return xp.where(a > 0, a, alpha * xp.expm1(xp.minimum(a, 0)))


def _elu_vjp(g: Tensor, n: Any) -> Tensor:
    alpha = n.attrs.get("alpha", 1.0)
    x = n[0]
    return where(x > 0, g, g * (x.exp() * alpha))


ELU = defop(
    "elu",
    _elu_fwd,
    (_elu_vjp,),
    "EluBackward0",
    saves=(0,),
    promote="float",
    sig="input, alpha=1.0",
    variants=("nn",),
    doc="input where positive, else alpha * (exp(input) - 1)",
)


# ------------------------------------------------------------------ layer_norm
def _ln_axes(ndim: int, normalized_shape: list[int]) -> tuple[int, ...]:
    return tuple(range(ndim - len(normalized_shape), ndim))


def _ln_fwd(xp: Any, x: Any, w: Any, b: Any, normalized_shape: list[int], eps: float = 1e-5) -> Any:
    axes = _ln_axes(x.ndim, normalized_shape)
    mu = xp.mean(x, axis=axes, keepdims=True)
    var = xp.mean(xp.square(x - mu), axis=axes, keepdims=True)
    out = (x - mu) / xp.sqrt(var + eps)
    if w is not None:
        out = out * w
    if b is not None:
        out = out + b
    return out


def _ln_stats(n: Any) -> tuple[Tensor, Tensor, list[int]]:
    """The saved input normalized, and 1/std, in differentiable ops (for double backward)."""
    x = n[0]
    axes = list(_ln_axes(x.ndim, n.attrs["normalized_shape"]))
    mu = x.mean(axes, keepdim=True)
    xc = x - mu
    rstd = ((xc * xc).mean(axes, keepdim=True) + n.attrs.get("eps", 1e-5)) ** -0.5
    return xc * rstd, rstd, axes


def _ln_vjp_x(g: Tensor, n: Any) -> Tensor:
    xhat, rstd, axes = _ln_stats(n)
    gw = g if n.in_meta[1] is None else g * n[1]
    return rstd * (gw - gw.mean(axes, keepdim=True) - xhat * (gw * xhat).mean(axes, keepdim=True))


def _ln_vjp_w(g: Tensor, n: Any) -> Tensor:
    return g * _ln_stats(n)[0]


def _ln_check(inputs: Any, attrs: dict[str, Any]) -> None:
    x, w, b = inputs
    shape = attrs.get("normalized_shape")
    if not isinstance(shape, list | tuple) or not all(type(s) is int for s in shape):
        raise InvalidArgumentError("layer_norm needs normalized_shape, a list of ints")
    shape = list(shape)
    xs = list(x._st.array.shape)
    if not shape or xs[len(xs) - len(shape) :] != shape or len(shape) > len(xs):
        raise ShapeMismatchError(
            f"Given normalized_shape={shape}, expected input with shape [*, "
            f"{', '.join(map(str, shape))}], but got input of size{xs}"
        )
    for name, t in (("weight", w), ("bias", b)):
        if t is not None and (not isinstance(t, Tensor) or list(t._st.array.shape) != shape):
            got = list(t.shape) if isinstance(t, Tensor) else t
            raise ShapeMismatchError(
                f"Expected {name} to be of same shape as normalized_shape, "
                f"but got {name} of shape {got} and normalized_shape = "
                f"{shape}"
            )
    if not x.dtype.is_floating_point:
        raise InvalidArgumentError(
            f"\"LayerNormKernelImpl\" not implemented for '{x.dtype.scalar_name}'"
        )


LAYER_NORM = defop(
    "layer_norm",
    _ln_fwd,
    (_ln_vjp_x, _ln_vjp_w, lambda g, n: g),
    "NativeLayerNormBackward0",
    saves=(0, 1),
    check=_ln_check,
    arity=4,  # on the wire: input, normalized_shape (a list), weight or null, bias or null
    tensors=1,
    sig="input, normalized_shape, weight=None, bias=None, eps=1e-05",
    prepare=lambda *a: _layer_norm(*a),
    variants=("nn",),
    doc="normalise over the trailing normalized_shape dims, then scale by weight, add bias",
)


def _layer_norm(
    input: Tensor, normalized_shape: Any, weight: Tensor | None, bias: Tensor | None, eps: float
) -> Any:
    """``F.layer_norm`` over the trailing ``normalized_shape`` dims."""
    shape = [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)
    attrs: dict[str, Any] = {"normalized_shape": [int(s) for s in shape]}
    if eps != 1e-5:
        attrs["eps"] = eps
    return (input, weight, bias), attrs


# ------------------------------------------------------------------- embedding
def _emb_rows(n: Any) -> Any:
    return n[0]._st.array


def _emb_vjp_w(g: Tensor, n: Any) -> Tensor:
    idx = _emb_rows(n)
    pad = n.attrs.get("padding_idx")
    if pad is not None:
        keep = Tensor._make((idx != pad)[..., None].astype(g.dtype.np), False, None)
        g = g * keep
    shape = list(n.in_meta[1][0])
    return apply(INDEX_BACKWARD, (g,), {"index": [{"array": idx}], "shape": shape})


def _emb_check(inputs: Any, attrs: dict[str, Any]) -> None:
    idx, w = inputs
    if not isinstance(idx, Tensor) or idx.dtype.name not in ("int64", "int32"):
        got = idx.dtype.scalar_name if isinstance(idx, Tensor) else type(idx).__name__
        raise DtypeMismatchError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got {got} instead (while checking arguments for embedding)"
        )
    if not isinstance(w, Tensor) or w.ndim != 2:
        raise InvalidArgumentError("'weight' must be 2-D")
    a = idx._st.array
    rows = w._st.array.shape[0]
    bad = a[(a < 0) | (a >= rows)]
    if bad.size:
        raise IndexOutOfRangeError("index out of range in self")


EMBEDDING = defop(
    "embedding",
    lambda xp, idx, w, padding_idx=None: w[idx],
    (None, _emb_vjp_w),
    "EmbeddingBackward0",
    saves=(0,),
    check=_emb_check,
    arity=2,
    tensors=2,
    sig="input, weight, padding_idx=None",
    prepare=lambda *a: _embedding(*a),
    variants=("nn",),
    result="keep",
    doc="the rows of weight at int64 indices; the padding_idx row gets no gradient",
)


def _embedding(input: Tensor, weight: Tensor, padding_idx: int | None) -> Any:
    """``F.embedding``: rows of ``weight``; the ``padding_idx`` row gets no gradient."""
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    attrs = {} if padding_idx is None else {"padding_idx": int(padding_idx)}
    return (input, weight), attrs


# ---------------------------------------------------------------------- losses
def _same_shape(name: str) -> Any:
    def check(inputs: Any, attrs: dict[str, Any]) -> None:
        _check_reduction(attrs.get("reduction", "mean"))
        x, t = inputs
        if not isinstance(t, Tensor) or x._st.array.shape != t._st.array.shape:
            raise ShapeValueError(
                f"Target size ({list(getattr(t, 'shape', ()))}) must be the same as input size "
                f"({list(x.shape)})"
            )
        if name == "huber" and attrs.get("delta", 1.0) <= 0:
            raise InvalidArgumentError("huber_loss does not support non-positive values for delta.")
        if name == "smooth_l1" and attrs.get("beta", 1.0) < 0:
            raise InvalidArgumentError("smooth_l1_loss does not support negative values for beta.")

    return check


def _huber_fwd(xp: Any, x: Any, t: Any, reduction: str = "mean", delta: float = 1.0) -> Any:
    d = xp.abs(x - t)
    return _reduce(xp, xp.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


def _huber_vjp(sign: float) -> Any:
    def vjp(g: Tensor, n: Any) -> Tensor:
        delta = n.attrs.get("delta", 1.0)
        diff = n[0] - n[1]
        inner = diff.clamp(-delta, delta)
        return _loss_scale(g, n, n.in_meta[0][0]) * (inner * sign)

    return vjp


HUBER_LOSS = defop(
    "huber_loss",
    _huber_fwd,
    (_huber_vjp(1.0), _huber_vjp(-1.0)),
    "HuberLossBackward0",
    saves=(0, 1),
    promote="common",
    check=_same_shape("huber"),
    arity=2,
    tensors=2,
    sig="input, target, reduction='mean', delta=1.0",
    variants=("nn",),
    doc="0.5 * d**2 where |d| < delta, else delta * (|d| - 0.5 * delta), d = input - target",
)


def _sl1_fwd(xp: Any, x: Any, t: Any, reduction: str = "mean", beta: float = 1.0) -> Any:
    d = xp.abs(x - t)
    if beta == 0:
        return _reduce(xp, d, reduction)
    return _reduce(xp, xp.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def _sl1_vjp(sign: float) -> Any:
    def vjp(g: Tensor, n: Any) -> Tensor:
        beta = n.attrs.get("beta", 1.0)
        diff = n[0] - n[1]
        inner = diff.sign() if beta == 0 else diff.clamp(-beta, beta) / beta
        return _loss_scale(g, n, n.in_meta[0][0]) * (inner * sign)

    return vjp


SMOOTH_L1_LOSS = defop(
    "smooth_l1_loss",
    _sl1_fwd,
    (_sl1_vjp(1.0), _sl1_vjp(-1.0)),
    "SmoothL1LossBackward0",
    saves=(0, 1),
    promote="common",
    check=_same_shape("smooth_l1"),
    arity=2,
    tensors=2,
    sig="input, target, reduction='mean', beta=1.0",
    prepare=lambda *a: _smooth_l1_loss(*a),
    variants=("nn",),
    doc="0.5 * d**2 / beta where |d| < beta, else |d| - 0.5 * beta, d = input - target",
)


def _loss_attrs(reduction: str, **extra: Any) -> dict[str, Any]:
    attrs = {} if reduction == "mean" else {"reduction": reduction}
    attrs.update({k: v for k, v in extra.items() if v != 1.0})
    return attrs


def _smooth_l1_loss(input: Tensor, target: Tensor, reduction: str, beta: float) -> Any:
    if beta == 0.0:  # torch falls back to l1_loss, a composition
        _same_shape("smooth_l1")((input, target), _loss_attrs(reduction))
        loss = (input - target).abs()
        return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss
    return (input, target), _loss_attrs(reduction, beta=beta)


# --------------------------------------------------------------------- one_hot
def _one_hot_fwd(xp: Any, a: Any, num_classes: int = -1) -> Any:
    n = int(a.max()) + 1 if num_classes == -1 else num_classes
    return (a[..., None] == xp.arange(n)).astype(xp.int64)


def _one_hot_check(inputs: Any, attrs: dict[str, Any]) -> None:
    (x,) = inputs
    if x.dtype.name != "int64":
        raise DtypeMismatchError("one_hot is only applicable to index tensor of type LongTensor.")
    a = x._st.array
    k = attrs.get("num_classes", -1)
    if a.size and int(a.min()) < 0:
        raise IndexOutOfRangeError("Class values must be non-negative.")
    if k == -1 and not a.size:
        raise InvalidArgumentError("Can not infer total number of classes from empty tensor.")
    if k != -1 and a.size and int(a.max()) >= k:
        raise IndexOutOfRangeError("Class values must be smaller than num_classes.")


ONE_HOT = defop(
    "one_hot",
    _one_hot_fwd,
    None,
    "",
    check=_one_hot_check,
    differentiable=False,
    sig="tensor, num_classes=-1",
    variants=("nn",),
    dtypes="int",
    result="keep",
    doc="int64 class indices as one-hot int64 rows (num_classes=-1: max + 1)",
)
