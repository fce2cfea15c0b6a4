"""``torch.nn.functional``: the activations and losses of the op table (its ``nn`` variants)."""

from __future__ import annotations

from typing import Any

from ..ops import OPS
from ..unsupported import missing

__all__ = sorted(op.name for op in OPS.values() if "nn" in op.variants)

globals().update({name: OPS[name].fn for name in __all__})


def __getattr__(name: str) -> Any:
    missing("nn.functional", name, "module 'engine.nn.functional'")
