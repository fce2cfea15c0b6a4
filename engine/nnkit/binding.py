"""Bind the backend-agnostic ``nn`` classes to one tensor backend.

``bind(backend)`` returns a ``Module`` subclass carrying the backend and, for every
layer, a subclass of (generic layer, that ``Module``): ``isinstance(m, nn.Module)`` and
user subclasses of ``nn.Module`` behave as in torch, while the code of each class
exists once (in :mod:`engine.nn.module`, ``containers``, ``layers``, ``activation``, ``loss``).
"""

from __future__ import annotations

from typing import Any

from . import activation, layers, loss
from .containers import ModuleDict, ModuleList, Sequential
from .module import Backend, Module

__all__ = ["CLASSES", "bind"]

CLASSES: tuple[type[Module], ...] = (
    Sequential,
    ModuleList,
    ModuleDict,
    *(getattr(m, name) for m in (layers, activation, loss) for name in m.__all__),
)


def bind(backend: Backend, module_name: str) -> dict[str, type]:
    """The classes of ``torch.nn`` on ``backend``, by name."""
    base = type(
        "Module", (Module,), {"_B": backend, "__module__": module_name, "__qualname__": "Module"}
    )
    out: dict[str, Any] = {"Module": base}
    for cls in CLASSES:
        name = cls.__name__
        out[name] = type(name, (cls, base), {"__module__": module_name, "__qualname__": name})
    return out
