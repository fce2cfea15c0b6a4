"""``torch.nn.utils``: gradient clipping, written once for any backend."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["Utils"]


def _grads(parameters: Any) -> list[Any]:
    params = [parameters] if hasattr(parameters, "grad") else list(parameters)
    return [p.grad for p in params if p.grad is not None]


class Utils:
    """``torch.nn.utils`` on one backend."""

    def __init__(self, torch: Any) -> None:
        self._torch = torch

    def clip_grad_norm_(
        self,
        parameters: Iterable[Any] | Any,
        max_norm: float,
        norm_type: float = 2.0,
        error_if_nonfinite: bool = False,
        foreach: Any = None,
    ) -> Any:
        """Scale the gradients so that their joint ``norm_type`` norm is at most ``max_norm``.

        Returns the total norm before clipping, as torch (a 0-d tensor).
        """
        torch = self._torch
        grads = _grads(parameters)
        if not grads:
            return torch.tensor(0.0)
        norm_type = float(norm_type)
        with torch.no_grad():
            if math.isinf(norm_type):  # the max-abs norm (a wire attribute can't be inf)
                total = torch.stack([g.abs().max() for g in grads]).max()
            else:
                total = torch.stack([g.norm(norm_type) for g in grads]).norm(norm_type)
            if error_if_nonfinite:
                v = float(total.item())
                if math.isnan(v) or math.isinf(v):
                    raise RuntimeError(
                        f"The total norm of order {norm_type} for gradients from `parameters` is "
                        "non-finite, so it cannot be clipped. To disable this error and scale "
                        "the gradients by the non-finite norm anyway, set "
                        "`error_if_nonfinite=False`"
                    )
            coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
            for g in grads:
                g.mul_(coef)
        return total

    def clip_grad_value_(
        self, parameters: Iterable[Any] | Any, clip_value: float, foreach: Any = None
    ) -> None:
        """Clamp every gradient into ``[-clip_value, clip_value]``."""
        clip_value = float(clip_value)
        with self._torch.no_grad():
            for g in _grads(parameters):
                g.copy_(g.clamp(-clip_value, clip_value))
