"""``torch.autograd.functional`` on the engine: jacobian, hessian, vjp, jvp, hvp and vhp.

The transforms are written once against a torch-like namespace (``engine.transforms``); this
module binds them to the engine's ops.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from . import autograd as A
from .factories import ones_like, zeros, zeros_like
from .ops.shape import STACK
from .transforms import Functional

__all__ = ["Functional", "hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


def _engine() -> Functional:
    ns = SimpleNamespace(
        autograd=A,
        enable_grad=A.enable_grad,
        ones_like=ones_like,
        stack=STACK.fn,
        zeros=zeros,
        zeros_like=zeros_like,
    )
    return Functional(ns)


def vjp(
    func: Any, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> Any:
    """``torch.autograd.functional.vjp``."""
    return _engine().vjp(func, inputs, v, create_graph, strict)


def jvp(
    func: Any, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> Any:
    """``torch.autograd.functional.jvp``."""
    return _engine().jvp(func, inputs, v, create_graph, strict)


def vhp(
    func: Any, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> Any:
    """``torch.autograd.functional.vhp``."""
    return _engine().vhp(func, inputs, v, create_graph, strict)


def hvp(
    func: Any, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> Any:
    """``torch.autograd.functional.hvp`` (equal to vhp for a scalar function)."""
    return _engine().hvp(func, inputs, v, create_graph, strict)


def jacobian(
    func: Any,
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """``torch.autograd.functional.jacobian``."""
    return _engine().jacobian(func, inputs, create_graph, strict, vectorize, strategy)


def hessian(
    func: Any,
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """``torch.autograd.functional.hessian``."""
    return _engine().hessian(func, inputs, create_graph, strict, vectorize, outer_jacobian_strategy)
