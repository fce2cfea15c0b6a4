"""``torch.autograd.profiler``: ``profile`` records every op the engine runs, with its time.

    with engine.autograd.profiler.profile() as prof:
        (x * y).sum().backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total"))

Events are named as torch names its ATen ops (``aten::mul``); ops that run inside another op
(a composed op, a VJP during backward) are recorded too. ``record_function`` adds a named
range around user code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import autograd as A
from .profiler_events import EventList, FunctionEvent, FunctionEventAvg, ProfileResults

if TYPE_CHECKING:
    from .ops import Op
    from .tensor import Tensor

__all__ = ["EventList", "FunctionEvent", "FunctionEventAvg", "profile", "record_function"]


class profile(ProfileResults):
    """Context manager that records the ops this thread runs (torch's CPU profiler)."""

    def __init__(self, enabled: bool = True, *, record_shapes: bool = False, **_: Any) -> None:
        self.enabled = enabled
        self.record_shapes = record_shapes
        self.function_events: EventList = EventList()
        self._t0 = 0.0
        self._prev: Any = None
        self._depth = 0

    def __enter__(self) -> profile:
        if self.enabled:
            self._prev = A._mode.profiler
            self._t0 = time.perf_counter()
            A._mode.profiler = self
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            A._mode.profiler = self._prev

    def _timed(self, name: str, shapes: list[list[int]], fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            end = time.perf_counter()
            self.function_events.append(
                FunctionEvent(
                    name,
                    (start - self._t0) * 1e6,
                    (end - start) * 1e6,
                    shapes if self.record_shapes else [],
                )
            )

    def record(self, op: Op, inputs: Sequence[Any], attrs: dict[str, Any]) -> Tensor:
        """Run one op (``autograd.apply``) and record it."""
        shapes = [list(getattr(x, "shape", ())) for x in inputs]
        A._mode.profiler = None  # the op's own call runs unrecorded
        try:
            return self._timed(f"aten::{op.name}", shapes, lambda: A.apply(op, inputs, attrs))
        finally:
            A._mode.profiler = self


class record_function:
    """A named range in the profile around user code (``with record_function("name"):``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._start = 0.0

    def __enter__(self) -> record_function:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        prof = A._mode.profiler
        if isinstance(prof, profile):
            end = time.perf_counter()
            prof.function_events.append(
                FunctionEvent(self.name, (self._start - prof._t0) * 1e6, (end - self._start) * 1e6)
            )
