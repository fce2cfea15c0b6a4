"""``binary_cross_entropy_with_logits`` (the loss of PyTorch's autograd quickstart), and
``nn.functional``'s ``pad`` (constant mode), ``normalize`` and ``cosine_similarity``.

Declared like the losses in ``ops/nn.py`` (one op, torch's grad_fn name, VJPs written with
engine ops so they differentiate again); ``normalize`` and ``cosine_similarity`` are
compositions of the table's ops, as torch's own are.
"""

from __future__ import annotations

from typing import Any

from ..autograd import apply
from ..dtypes import result_type
from ..errors import (
    EngineTypeError,
    InvalidArgumentError,
    NotImplementedArgumentError,
    ShapeValueError,
)
from ..shapes import broadcast_shapes, normalize_dim
from ..tensor import Tensor
from .nn import _check_reduction, _loss_scale, _reduce
from .table import Op, defop

__all__ = ["BINARY_CROSS_ENTROPY_WITH_LOGITS", "COSINE_SIMILARITY", "NORMALIZE", "PAD"]


def _fwd(xp: Any, x: Any, t: Any, reduction: str = "mean") -> Any:
    # max(x, 0) - x t + log(1 + exp(-|x|)): no overflow for large |x|
    loss = xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))
    return _reduce(xp, loss, reduction)


def _vjp_x(g: Tensor, n: Any) -> Tensor:
    x, t = n[0], n[1]
    return _loss_scale(g, n, n.in_meta[0][0]) * (x.sigmoid() - t)


def _vjp_t(g: Tensor, n: Any) -> Tensor:
    return _loss_scale(g, n, n.in_meta[0][0]) * -n[0]


def _check(inputs: Any, attrs: dict[str, Any]) -> None:
    _check_reduction(attrs.get("reduction", "mean"))
    x, t = inputs
    if not isinstance(t, Tensor) or x._st.array.shape != t._st.array.shape:
        raise ShapeValueError(
            f"Target size ({getattr(t, 'shape', ())!r}) must be the same as input size "
            f"({x.shape!r})"
        )


BINARY_CROSS_ENTROPY_WITH_LOGITS = defop(
    "binary_cross_entropy_with_logits",
    _fwd,
    (_vjp_x, _vjp_t),
    "BinaryCrossEntropyWithLogitsBackward0",
    saves=(0, 1),
    promote="common",
    check=_check,
    arity=2,
    tensors=2,
    sig="input, target, reduction='mean'",
    variants=("nn",),
    doc="the binary cross entropy of sigmoid(input) against targets, computed stably",
)


# ------------------------------------------------------------------------ pad
_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_fwd(xp: Any, a: Any, pad: list[int], value: Any = None) -> Any:
    """Constant padding of the last len(pad) // 2 dims; a negative amount crops."""
    n = len(pad) // 2
    crop = [slice(None)] * a.ndim
    widths = [(0, 0)] * a.ndim
    for k in range(n):
        d = a.ndim - 1 - k
        lo, hi = pad[2 * k], pad[2 * k + 1]
        crop[d] = slice(max(-lo, 0), a.shape[d] - max(-hi, 0))
        widths[d] = (max(lo, 0), max(hi, 0))
    out = a[tuple(crop)]
    fill = 0 if value is None else value
    return xp.pad(out, widths, mode="constant", constant_values=xp.asarray(fill).astype(a.dtype))


def _pad_shape(shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> tuple[int, ...]:
    shape = list(shapes[0])
    pad = attrs["pad"]
    for k in range(len(pad) // 2):
        shape[len(shape) - 1 - k] += pad[2 * k] + pad[2 * k + 1]
    return tuple(shape)


def _pad_args(x: Tensor, pad: Any, mode: str = "constant", value: Any = None) -> Any:
    if mode not in _PAD_MODES:
        raise NotImplementedArgumentError(f"Unrecognised padding mode {mode}")
    if mode != "constant":
        raise NotImplementedArgumentError(
            f"torch.nn.functional.pad(mode={mode!r}) is not supported by gradserve (constant "
            "padding only)"
        )
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise InvalidArgumentError("Padding length must be divisible by 2")
    if len(pad) // 2 > x.ndim:
        raise InvalidArgumentError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {x.ndim}"
        )
    if any(s < 0 for s in _pad_shape([tuple(x.shape)], {"pad": pad})):
        raise InvalidArgumentError("narrow(): length must be non-negative.")
    attrs: dict[str, Any] = {"pad": pad}
    if value is not None:
        attrs["value"] = value
    return (x,), attrs


def _pad_vjp(g: Tensor, n: Any) -> Tensor:
    """The inverse padding: it crops what was added and zero-pads what was cropped."""
    return apply(PAD, (g,), {"pad": [-p for p in n.attrs["pad"]]})


PAD: Op = defop(
    "pad",
    _pad_fwd,
    (_pad_vjp,),
    "ConstantPadNdBackward0",
    shape=_pad_shape,
    sig="input, pad, mode='constant', value=None",
    prepare=_pad_args,
    variants=("nn",),
    dtypes="any",
    doc="input padded with value (default 0) by pad = (left, right, top, bottom, ...) from the "
    "last dim; negative amounts crop; mode 'constant' only",
)


# ------------------------------------------------------- normalize and cosines
def _normalize(
    input: Tensor, p: Any = 2.0, dim: Any = 1, eps: float = 1e-12, out: Any = None
) -> Tensor:
    if out is not None:
        raise NotImplementedArgumentError("normalize(out=...) is not supported by gradserve")
    if not input.dtype.is_floating_point:
        raise InvalidArgumentError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{input.dtype.scalar_name}"
        )
    denom = input.norm(p, dim, keepdim=True).clamp(min=eps)
    return input / denom.expand_as(input)


NORMALIZE = defop(
    "normalize",
    None,
    None,
    "DivBackward0",
    sig="input, p=2.0, dim=1, eps=1e-12, out=None",
    prepare=_normalize,
    variants=("nn",),
    doc="input / max(norm(input, p, dim, keepdim=True), eps): unit p-norm vectors along dim",
)


def _cosine_similarity(x1: Tensor, x2: Tensor, dim: Any = 1, eps: float = 1e-8) -> Tensor:
    for i, t in enumerate((x1, x2)):
        if not isinstance(t, Tensor):
            raise EngineTypeError(
                f"cosine_similarity(): argument 'x{i + 1}' (position {i + 1}) must be Tensor, "
                f"not {type(t).__name__}"
            )
    shape = broadcast_shapes(x1.shape, x2.shape)
    dt = result_type(x1, x2)
    if not dt.is_floating_point:
        raise InvalidArgumentError(
            f"expected common dtype to be floating point, yet common dtype is {dt.scalar_name}"
        )
    d = normalize_dim(dim, len(shape))
    a, b = x1.expand(*shape), x2.expand(*shape)
    # as torch: each side divided by its norm (clamped to eps), then the dot product along dim
    na = a.norm(2, d, keepdim=True).clamp(min=eps)
    nb = b.norm(2, d, keepdim=True).clamp(min=eps)
    return ((a / na) * (b / nb)).sum(d)


COSINE_SIMILARITY = defop(
    "cosine_similarity",
    None,
    None,
    "SumBackward1",
    arity=2,
    tensors=0,
    sig="x1, x2, dim=1, eps=1e-08",
    prepare=_cosine_similarity,
    variants=("function", "nn"),
    doc="the cosine of the angle between x1 and x2 (broadcast) along dim, norms clamped to eps",
)
