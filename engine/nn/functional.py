"""``torch.nn.functional``: the activations and losses of the op table (its ``nn`` variants),
and torch's compositions of them (``l1_loss``, ``dropout``, ``bilinear``)."""

from __future__ import annotations

from typing import Any

from ..factories import rand_like
from ..nnkit.composite import INPLACE_AFTER, Composite, inplace_forms, with_inplace
from ..ops import OPS
from ..unsupported import missing

_TABLE = sorted(op.name for op in OPS.values() if "nn" in op.variants)

globals().update({name: OPS[name].fn for name in _TABLE})
globals().update({name: with_inplace(name, OPS[name].fn) for name in INPLACE_AFTER})
globals().update(inplace_forms(globals()))  # F.relu_, F.elu_, F.leaky_relu_


class _Random:
    rand_like = staticmethod(rand_like)


_composite = Composite(_Random)
l1_loss = _composite.l1_loss
dropout = _composite.dropout
bilinear = _composite.bilinear

__all__ = sorted(
    [
        *_TABLE,
        *(n + "_" for n in INPLACE_AFTER if n + "_" in globals()),
        "bilinear",
        "dropout",
        "l1_loss",
    ]
)


def __getattr__(name: str) -> Any:
    missing("nn.functional", name, "module 'engine.nn.functional'")
