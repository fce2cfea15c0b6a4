"""The op table: every op declared once, with its forward, its VJPs and PyTorch's grad_fn name.

An op's forward works on raw arrays through the backend namespace ``xp``; its VJPs
are written with the engine's own differentiable ops (never raw ``xp``), so that
``create_graph=True`` differentiates them again. Broadcasting is undone in one
place (``autograd._call_vjps`` sums each gradient back to its input's shape).

``OPS`` maps wire names (docs/api.md) to ops; ``Op.call`` is what the wire
runs: ``apply`` for primitives, a composition for ops PyTorch itself composes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OPS", "Op", "defop", "public_ops"]

VJP = Callable[..., Any]


@dataclass(eq=False)
class Op:
    """One op of the table."""

    name: str
    forward: Callable[..., Any] | None
    vjps: tuple[VJP | None, ...] | VJP | None
    grad_fn: str | Callable[[Sequence[Any], dict[str, Any]], str]
    saves: tuple[int, ...] = ()  # the inputs (by position) the VJPs read
    saves_out: bool = False
    promote: str | None = None  # "common": torch.result_type; "float": and at least float32
    promote_args: tuple[int, ...] | None = None  # the inputs promotion applies to (default all)
    result: str | None = None  # None: the output takes the promoted dtype; "keep": forward's
    differentiable: bool = True
    shape: Callable[[list[tuple[int, ...]], dict[str, Any]], Sequence[int]] | None = None
    # a broadcast: the result has at most as many elements as the product of the inputs'
    # sizes, so an element limit need not infer the shape when that product is within it
    bounded: bool = False
    check: Callable[[Sequence[Any], dict[str, Any]], None] | None = None
    arity: int | None = 1  # tensor/scalar positional args; None: a list of tensors
    kwargs: dict[str, Any] = field(default_factory=dict)  # wire attributes and defaults
    dtypes: str = "float"  # what the op accepts, for /v1/ops
    grad_fns: tuple[str, ...] = ()  # every name it can show, for /v1/ops
    public: bool = True  # listed on the wire
    call: Callable[..., Any] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if not self.grad_fns and isinstance(self.grad_fn, str) and self.differentiable:
            self.grad_fns = (self.grad_fn,)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the op as the wire does (positional tensors/scalars, keyword attributes)."""
        if self.call is not None:
            return self.call(*args, **kwargs)
        from ..autograd import apply

        return apply(self, args, kwargs)

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


OPS: dict[str, Op] = {}


def defop(name: str, forward: Callable[..., Any] | None, vjps: Any, grad_fn: Any, **kw: Any) -> Op:
    """Declare an op and register it under its wire name."""
    if name in OPS:
        raise ValueError(f"op {name!r} declared twice")
    op = Op(name, forward, vjps, grad_fn, **kw)
    OPS[name] = op
    return op


def public_ops() -> list[Op]:
    """The ops a client may name, sorted by name."""
    return sorted((op for op in OPS.values() if op.public), key=lambda op: op.name)
