"""Grad mode, element limits and the allocation counter: per-thread state every layer reads.

``torch.no_grad`` and friends live here, below ``Tensor`` and the autograd core, so both
can read the mode without importing each other.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .errors import TensorTooLargeError

__all__ = [
    "budget",
    "check_numel",
    "enable_grad",
    "is_grad_enabled",
    "limits",
    "no_grad",
    "set_grad_enabled",
]


# --------------------------------------------------------------------- grad mode
class _Mode(threading.local):
    enabled: bool = True
    max_elements: int | None = None
    quiet: bool = False  # inside np.errstate(all="ignore") already (a backward pass)
    allocated: int = 0  # bytes of op results in this thread, ever (engine.state measures)
    profiler: Any = None  # an engine.profiler.profile recording this thread's ops
    reserve: Callable[[int], None] | None = None  # told each op's result bytes before it runs
    # the inputs are stand-ins (engine.meta: shapes and dtypes only), so checks of values skip
    stand_ins: bool = False


_mode = _Mode()


def is_grad_enabled() -> bool:
    """Whether ops in this thread record a graph."""
    return _mode.enabled


class _GradMode:
    """Context manager and decorator that sets grad mode for this thread."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(_mode.enabled)
        _mode.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _mode.enabled = self._prev.pop()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        mode = self.mode
        if inspect.isgeneratorfunction(fn):
            # torch's _DecoratorContextManager: the mode holds while the generator runs, and
            # the caller's mode is back between its steps
            @functools.wraps(fn)
            def generator(*args: Any, **kwargs: Any) -> Any:
                gen = fn(*args, **kwargs)
                try:
                    with _GradMode(mode):
                        request = gen.send(None)
                    while True:
                        try:
                            sent = yield request
                        except GeneratorExit:
                            with _GradMode(mode):
                                gen.close()
                            raise
                        except BaseException as exc:
                            with _GradMode(mode):
                                request = gen.throw(exc)
                        else:
                            with _GradMode(mode):
                                request = gen.send(sent)
                except StopIteration as stop:
                    return stop.value

            return generator

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradMode(mode):
                return fn(*args, **kwargs)

        return wrapper


class set_grad_enabled(_GradMode):
    """``torch.set_grad_enabled``: like torch, it sets the mode when called (so a plain call
    works as a function) and restores the previous one on leaving a ``with`` block."""

    def __init__(self, mode: bool) -> None:
        super().__init__(mode)
        self._before = _mode.enabled
        _mode.enabled = self.mode

    def __enter__(self) -> None:
        self._prev.append(self._before)
        _mode.enabled = self.mode

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        _mode.enabled = self._before  # as a decorator it does not change the current mode
        return super().__call__(fn)


class no_grad(_GradMode):
    """``torch.no_grad``: results do not require grad and record no graph."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(_GradMode):
    """``torch.enable_grad``: turn recording back on inside ``no_grad``."""

    def __init__(self) -> None:
        super().__init__(True)


class limits:
    """Context manager: refuse any op whose result would exceed ``max_elements`` (this thread)."""

    def __init__(self, max_elements: int | None) -> None:
        self.max_elements = max_elements
        self._prev: list[int | None] = []

    def __enter__(self) -> None:
        self._prev.append(_mode.max_elements)
        _mode.max_elements = self.max_elements

    def __exit__(self, *exc: object) -> None:
        _mode.max_elements = self._prev.pop()


class budget:
    """Context manager: call ``reserve(nbytes)`` before each op of this thread allocates its
    result (an upper bound from the shapes: 8 bytes an element where the dtype is not known
    yet); it raises to refuse the op before any memory is taken."""

    def __init__(self, reserve: Callable[[int], None] | None) -> None:
        self.reserve = reserve
        self._prev: list[Callable[[int], None] | None] = []

    def __enter__(self) -> None:
        self._prev.append(_mode.reserve)
        _mode.reserve = self.reserve

    def __exit__(self, *exc: object) -> None:
        _mode.reserve = self._prev.pop()


class _quiet:
    """Mark this thread as already inside errstate(all="ignore") (apply skips its own)."""

    def __enter__(self) -> None:
        self._prev = _mode.quiet
        _mode.quiet = True

    def __exit__(self, *exc: object) -> None:
        _mode.quiet = self._prev


def check_numel(shape: Sequence[int]) -> None:
    """Refuse a result shape above this thread's element limit, before allocating it."""
    limit = _mode.max_elements
    if limit is None:
        return
    n = 1
    for s in shape:
        n *= int(s)  # Python ints: no overflow
    if n > limit:
        raise TensorTooLargeError(
            f"a tensor of shape {list(shape)} has {n} elements, above the limit of {limit}"
        )
