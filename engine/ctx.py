"""The plain part of ``torch.autograd.Function``'s ``ctx``: what ``forward`` stores on it.

Imports nothing of the engine's autograd or tensors, so the client (which runs a Function's
``forward`` as ordinary ops when no graph is recorded) shares it; the engine's
``autograd_function.FunctionCtx`` adds saved values that a backward unpacks.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CtxBase"]


class CtxBase:
    """``ctx.save_for_backward``, ``saved_tensors``, ``needs_input_grad``, ``mark_dirty``,
    ``mark_non_differentiable``, ``set_materialize_grads``."""

    def __init__(self) -> None:
        self.to_save: tuple[Any, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self.materialize_grads = True
        self._dirty: tuple[Any, ...] = ()
        self._non_differentiable: tuple[Any, ...] = ()

    def save_for_backward(self, *tensors: Any) -> None:
        self.to_save = tensors

    save_for_forward = save_for_backward

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        return self.to_save

    saved_variables = saved_tensors

    def mark_dirty(self, *tensors: Any) -> None:
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors: Any) -> None:
        self._non_differentiable = tensors

    @property
    def dirty_tensors(self) -> tuple[Any, ...]:
        """What ``mark_dirty`` was given (the inputs ``forward`` modified in place)."""
        return self._dirty

    @property
    def non_differentiable_tensors(self) -> tuple[Any, ...]:
        """What ``mark_non_differentiable`` was given."""
        return self._non_differentiable

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)
