"""``binary_cross_entropy_with_logits``: the loss of PyTorch's autograd quickstart.

Declared like the losses in ``ops/nn.py`` (one op, torch's grad_fn name, VJPs written with
engine ops so they differentiate again).
"""

from __future__ import annotations

from typing import Any

from ..errors import ShapeValueError
from ..tensor import Tensor
from .nn import _check_reduction, _loss_scale, _reduce
from .table import defop

__all__ = ["BINARY_CROSS_ENTROPY_WITH_LOGITS"]


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
