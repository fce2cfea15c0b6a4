"""``torch.nn.functional``: the activations and losses of the op table, and torch's
compositions of them (``l1_loss``, ``dropout``, ``bilinear``)."""

from __future__ import annotations

from typing import Any

from ..factories import rand_like
from ..ops.layers import (
    elu,
    embedding,
    huber_loss,
    layer_norm,
    linear,
    one_hot,
    silu,
    smooth_l1_loss,
)
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
from .composite import Composite

__all__ = [
    "bilinear",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "gelu",
    "huber_loss",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "relu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "tanh",
]


class _Random:
    rand_like = staticmethod(rand_like)


_composite = Composite(_Random)
l1_loss = _composite.l1_loss
dropout = _composite.dropout
bilinear = _composite.bilinear


def __getattr__(name: str) -> Any:
    from ..unsupported import missing

    missing("nn.functional", name, "module 'engine.nn.functional'")
