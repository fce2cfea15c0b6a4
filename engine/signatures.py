"""Python functions with torch's exact signatures, built from a parameter list.

``build("add", "input, other, *, alpha=1", run)`` is ``def add(input, other, *, alpha=1)``
whose body is ``return run(input, other, alpha)``: Python itself binds positional and
keyword arguments and raises its usual ``TypeError`` for a bad call, as torch's own
functions do. The engine builds its functions, methods and in-place methods this way from
the op table; the client builds its remote surfaces from the same declarations.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from typing import Any, NamedTuple

__all__ = ["Param", "build", "inplace_function", "params", "same"]


class Param(NamedTuple):
    """One parameter of a signature."""

    name: str
    kind: str  # "positional" (or keyword), "varargs", "keyword" (keyword-only)
    default: Any
    required: bool


_KINDS = {
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
    inspect.Parameter.POSITIONAL_ONLY: "positional",
    inspect.Parameter.VAR_POSITIONAL: "varargs",
    inspect.Parameter.KEYWORD_ONLY: "keyword",
}


@cache
def params(sig: str) -> tuple[Param, ...]:
    """The parameters of ``sig`` (a parameter list as Python writes it), in order."""
    scope: dict[str, Any] = {}
    exec(f"def f({sig}): pass", {}, scope)  # sig: a declaration in this repo
    out = []
    for p in inspect.signature(scope["f"]).parameters.values():
        if p.kind not in _KINDS:
            raise ValueError(f"unsupported parameter {p} in {sig!r}")
        required = p.default is inspect.Parameter.empty and p.kind is not p.VAR_POSITIONAL
        default = None if p.default is inspect.Parameter.empty else p.default
        out.append(Param(p.name, _KINDS[p.kind], default, required))
    return tuple(out)


def build(
    name: str, sig: str, run: Callable[..., Any], doc: str = "", qualname: str | None = None
) -> Callable[..., Any]:
    """``def name(sig): return run(<each parameter, in order>)``."""
    names = ", ".join(p.name for p in params(sig))
    scope: dict[str, Any] = {"__run": run}
    ident = name if name.isidentifier() else "op"
    src = f"def {ident}({sig}):\n    return __run({names})\n"
    exec(src, scope)  # built from the op table's declarations
    fn: Callable[..., Any] = scope[ident]
    fn.__name__ = name
    fn.__doc__ = doc
    fn.__qualname__ = qualname or name
    fn.__module__ = getattr(run, "__module__", None) or __name__
    return fn


def same(v: Any, default: Any) -> bool:
    """Whether an attribute's value is its default (then it is not recorded or sent)."""
    if v is default:
        return True
    scalar = bool | int | float | str
    return isinstance(v, scalar) and isinstance(default, scalar) and v == default


def inplace_function(name: str, tensor: type) -> Callable[..., Any]:
    """torch's function form of an in-place method (``torch.relu_(x)`` is ``x.relu_()``):
    ``name`` ends in ``_``; ``tensor`` is the namespace's tensor class."""

    def fn(input: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, tensor):
            raise TypeError(
                f"{name}(): argument 'input' (position 1) must be Tensor, not "
                f"{type(input).__name__}"
            )
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"In place: ``input.{name}(...)``."
    return fn
