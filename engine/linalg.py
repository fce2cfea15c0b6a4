"""``torch.linalg``: ``vector_norm``, the op table's ``norm`` with torch.linalg's signature.

Any other torch.linalg name raises ``NotImplementedError`` naming it (``engine.unsupported``);
a name torch.linalg does not have either is a plain ``AttributeError``.
"""

from __future__ import annotations

from typing import Any

from .errors import EngineTypeError
from .ops.reduction import NORM
from .tensor import Tensor
from .unsupported import missing

__all__ = ["vector_norm"]


def vector_norm(
    x: Any, ord: Any = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """``torch.linalg.vector_norm``: the ord-norm over all elements or dim
    (LinalgVectorNormBackward0)."""
    if not isinstance(x, Tensor):
        raise EngineTypeError(
            "linalg_vector_norm(): argument 'input' (position 1) must be Tensor, not "
            f"{type(x).__name__}"
        )
    if not isinstance(ord, int | float):
        raise EngineTypeError(
            "linalg_vector_norm(): argument 'ord' (position 2) must be Number, not "
            f"{type(ord).__name__}"
        )
    out: Tensor = NORM.fn(x, float(ord), dim, keepdim, dtype=dtype)
    return out


def __getattr__(name: str) -> Any:
    missing("linalg", name, "module 'engine.linalg'")
