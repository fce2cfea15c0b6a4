"""``torch.nn.functional``: the activations and losses of the op table."""

from __future__ import annotations

from typing import Any

from ..ops.nn import (
    binary_cross_entropy,
    cross_entropy,
    gelu,
    leaky_relu,
    mse_loss,
    nll_loss,
    relu,
    softplus,
)
from ..ops.nn_extra import binary_cross_entropy_with_logits
from ..ops.pointwise import sigmoid, tanh
from ..ops.reduction import log_softmax, softmax

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "gelu",
    "leaky_relu",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
]


def __getattr__(name: str) -> Any:
    from ..unsupported import missing

    missing("nn.functional", name, "module 'engine.nn.functional'")
