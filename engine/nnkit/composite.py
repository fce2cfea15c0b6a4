"""``torch.nn.functional``'s compositions of table ops, written once for any backend.

Torch itself composes these (``l1_loss`` is ``(x - t).abs().mean()``, ``dropout`` a
product with a scaled mask, ``bilinear`` a product and a sum), so their graphs and
grad_fn names come out as torch's from the ops they are made of.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["Composite", "inplace_forms", "with_inplace"]

# torch.nn.functional's activations that take ``inplace``: how many parameters come between
# the input and it (``leaky_relu(input, negative_slope=0.01, inplace=False)``)
INPLACE_AFTER = {"relu": 0, "silu": 0, "elu": 1, "leaky_relu": 1}


def with_inplace(name: str, fn: Any) -> Any:
    """The table's ``nn`` function ``name`` with torch's trailing ``inplace`` parameter: in
    place, it is the tensor's ``name_`` method where torch has one (``relu_``), else the
    result copied into the input (same values and gradients; the node is ``copy_``'s)."""
    n = INPLACE_AFTER[name]

    def f(input: Any, *args: Any, inplace: bool = False, **kwargs: Any) -> Any:
        if len(args) > n + 1:
            raise TypeError(f"{name}() takes from 1 to {n + 2} positional arguments")
        if len(args) == n + 1:
            args, inplace = args[:n], args[n]
        if not inplace:
            return fn(input, *args, **kwargs)
        method = getattr(input, name + "_", None)
        if method is not None and not args and not kwargs:
            return method()
        # on a clone: the function's saved input must not be the tensor written here
        return input.copy_(fn(input.clone(), *args, **kwargs))

    f.__name__ = f.__qualname__ = name
    f.__doc__ = getattr(fn, "__doc__", None)
    sig = inspect.signature(fn)
    inplace = inspect.Parameter("inplace", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=False)
    f.__signature__ = sig.replace(parameters=[*sig.parameters.values(), inplace])  # type: ignore[attr-defined]
    return f


_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Any, reduction: str) -> Any:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class Composite:
    """The composed functions on one backend (its ``rand_like`` draws dropout masks)."""

    def __init__(self, torch: Any) -> None:
        self._torch = torch

    def l1_loss(self, input: Any, target: Any, reduction: str = "mean") -> Any:
        """``F.l1_loss``: mean (or sum) of ``|input - target|``."""
        if tuple(input.shape) != tuple(target.shape):
            raise ValueError(
                f"Using a target size ({target.shape}) that is different to the input size "
                f"({input.shape}). Please ensure they have the same size."
            )
        return _reduce((input - target).abs(), reduction)

    def dropout(self, input: Any, p: float = 0.5, training: bool = True, inplace: bool = False):
        """``F.dropout``: zero with probability ``p``, scale the rest by ``1/(1-p)``."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        if not training or p == 0.0:
            return input
        if p == 1.0:
            return input.mul_(0.0) if inplace else input * 0.0
        keep = (self._torch.rand_like(input) >= p).to(input.dtype) * (1.0 / (1.0 - p))
        return input.mul_(keep) if inplace else input * keep

    def bilinear(self, input1: Any, input2: Any, weight: Any, bias: Any = None) -> Any:
        """``F.bilinear``: ``x1ᵀ W_o x2 + b_o`` for each output ``o``."""
        out_f, in1, in2 = (int(s) for s in weight.shape)
        if tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
            raise ValueError("bilinear(): input batch dimensions do not match")
        if int(input1.shape[-1]) != in1 or int(input2.shape[-1]) != in2:
            raise ValueError(
                f"bilinear(): input sizes {input1.shape[-1]}, {input2.shape[-1]} do not match "
                f"weight {list(weight.shape)}"
            )
        batch = tuple(input1.shape[:-1])
        x1 = input1.reshape(-1, in1)
        x2 = input2.reshape(-1, in2)
        u = (x1 @ weight.permute(1, 0, 2).reshape(in1, out_f * in2)).reshape(-1, out_f, in2)
        out = (u * x2.unsqueeze(1)).sum(-1).view(*batch, out_f)
        return out if bias is None else out + bias


def inplace_forms(space: dict[str, Any]) -> dict[str, Any]:
    """``F.relu_``, ``F.elu_``, ``F.leaky_relu_`` (torch's in-place functional forms) from a
    namespace's ``relu``... that take ``inplace`` (``with_inplace``); torch has no ``silu_``."""
    out: dict[str, Any] = {}
    for name in INPLACE_AFTER:
        if name == "silu" or name not in space:
            continue
        base = space[name]

        def f(input: Any, *args: Any, _base: Any = base, **kwargs: Any) -> Any:
            return _base(input, *args, inplace=True, **kwargs)

        f.__name__ = f.__qualname__ = name + "_"
        f.__doc__ = f"In place: ``{name}(input, ..., inplace=True)``."
        out[name + "_"] = f
    return out
