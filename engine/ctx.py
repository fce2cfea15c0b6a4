"""The plain part of ``torch.autograd.Function``'s ``ctx``: what ``forward`` stores on it.

Imports nothing of the engine's autograd or tensors, so the client (which runs a Function's
``forward`` as ordinary ops when no graph is recorded) shares it; the engine's
``autograd_function.FunctionCtx`` adds saved values that a backward unpacks.
"""

from __future__ import annotations

from typing import Any

from .errors import EngineTypeError

__all__ = ["CtxBase", "FunctionBase"]


class CtxBase:
    """``ctx.save_for_backward``, ``saved_tensors``, ``needs_input_grad``, ``mark_dirty``,
    ``mark_non_differentiable``, ``set_materialize_grads``."""

    def __init__(self) -> None:
        self.to_save: tuple[Any, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self.materialize_grads = True
        self._dirty: tuple[Any, ...] = ()
        self._non_differentiable: tuple[Any, ...] = ()

    tensor_type: type = object  # what save_for_backward takes (the namespace's Tensor)

    def save_for_backward(self, *tensors: Any) -> None:
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, self.tensor_type):
                raise EngineTypeError(  # torch's TypeError (still an InvalidArgumentError)
                    "save_for_backward can only save variables, but argument "
                    f"{i} is of type {type(t).__name__}"
                )
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


class FunctionBase:
    """What ``torch.autograd.Function`` is before ``apply``: the legacy-call error and the
    defaults of ``forward``, ``setup_context`` and ``backward`` (torch's texts). The engine's
    and the client's ``Function`` add ``apply``; ``legacy_error`` is the class they raise."""

    legacy_error: type[Exception] = RuntimeError

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self.legacy_error(
            "Legacy autograd function with non-static forward method is deprecated. Please use "
            "new-style autograd function with static forward method. (Example: "
            "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)"
        )

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> Any:
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    vjp = backward
