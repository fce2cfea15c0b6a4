"""A torch name gradserve does not support raises ``NotImplementedError`` naming it.

``Unsupported`` is also an ``AttributeError``, so ``hasattr``/``getattr(obj, name, default)``
keep working as Python code expects; a name torch does not have either is a plain
``AttributeError``. The namespaces' ``__getattr__`` (engine, ``engine.nn.functional``,
``engine.autograd``, ``Tensor``, and the client's) call ``missing``.
"""

from __future__ import annotations

from typing import NoReturn

from .torch_names import TORCH_NAMES

__all__ = ["SUPPORTED_HINT", "Unsupported", "missing"]

SUPPORTED_HINT = (
    "see docs/supported.md for what gradserve supports (its ops: engine.public_ops(), or "
    "GET /v1/ops on a server)"
)


class Unsupported(NotImplementedError, AttributeError):
    """``torch.<name>`` exists, gradserve does not provide it."""


def missing(space: str, name: str, owner: str) -> NoReturn:
    """Raise for ``owner.name`` (``space``: a key of TORCH_NAMES: torch, Tensor, ...)."""
    if not name.startswith("_") and name in TORCH_NAMES.get(space, frozenset()):
        where = "torch" if space == "torch" else f"torch.{space}"
        raise Unsupported(f"{where}.{name} is not supported by gradserve; {SUPPORTED_HINT}")
    raise AttributeError(f"{owner!s} has no attribute {name!r}")
