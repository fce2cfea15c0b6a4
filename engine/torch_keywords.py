"""torch's keyword names for a function's tensors: ``torch.matmul(input=a, other=b)``.

PyTorch's functions name their first tensor ``input`` and a second ``other``; a function here
that names them otherwise (``matmul(a, b)``) gets a wrapper that maps those keywords to its
positions, so user code written with keywords runs unchanged.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["accept_torch_keywords", "accept_torch_keywords_on"]

_KEYWORDS = ("input", "other")


def accept_torch_keywords(fn: Callable[..., Any], skip_self: bool = False) -> Callable[..., Any]:
    """``fn``, or a wrapper taking ``input=``/``other=`` for its first two positional params."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return fn
    if skip_self:
        params = params[1:]
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][
        : len(_KEYWORDS)
    ]
    if not positional or positional[0] == "input" or any(p.name in _KEYWORDS for p in params):
        return fn
    rename = dict(zip(_KEYWORDS, positional, strict=False))
    offset = 1 if skip_self else 0

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "input" in kwargs or "other" in kwargs:
            args = list(args)  # type: ignore[assignment]
            for key, _ in rename.items():
                if key in kwargs:
                    pos = _KEYWORDS.index(key) + offset
                    if len(args) != pos:
                        raise TypeError(f"{fn.__name__}() got multiple values for argument '{key}'")
                    args.append(kwargs.pop(key))  # type: ignore[attr-defined]
        return fn(*args, **kwargs)

    return wrapper


def accept_torch_keywords_on(cls: type, names: list[str]) -> None:
    """Wrap the methods ``names`` of ``cls`` (a namespace class) in place."""
    for name in names:
        fn = cls.__dict__.get(name)
        if inspect.isfunction(fn):
            setattr(cls, name, accept_torch_keywords(fn, skip_self=True))
