"""The client's ``torch.autograd.profiler``: ``profile`` times the ops the server runs.

    with torch.autograd.profiler.profile() as prof:
        y = (x * 2).sum(); y.backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total"))

Entering sends what is pending (so earlier ops are not counted); inside, every graph request
asks the server to time its nodes (``"profile": true``, docs/api.md); leaving sends what is
pending. The server's events are the engine's profiler's (``aten::mul``, with their times), so
the table prints as ``engine.autograd.profiler``'s does (``engine.profiler_events``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from engine.profiler_events import EventList, FunctionEvent, ProfileResults

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["RemoteProfile", "RemoteRecordFunction"]


class RemoteProfile(ProfileResults):
    """``torch.autograd.profiler.profile`` over a session: the ops' server-side times.

    Torch's keywords are accepted; ``enabled`` and ``record_shapes`` act, the others (CUDA,
    memory, stack, FLOPs) record nothing more."""

    def __init__(
        self,
        conn: Connection,
        enabled: bool = True,
        *,
        use_cuda: bool = False,
        use_device: str | None = None,
        record_shapes: bool = False,
        with_flops: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
        with_modules: bool = False,
        use_kineto: bool = False,
        use_cpu: bool = True,
        experimental_config: Any = None,
        acc_events: bool = False,
        custom_trace_id_callback: Any = None,
        post_processing_timeout_s: float | None = None,
        activity_filters: Any = None,
    ) -> None:
        self._conn = conn
        self.enabled = enabled
        self.record_shapes = record_shapes
        self.function_events: EventList = EventList()
        self.nodes: list[dict[str, Any]] = []  # per node sent: its wire op and times
        self._t0 = 0.0
        self._prev: RemoteProfile | None = None

    def __enter__(self) -> RemoteProfile:
        if self.enabled:
            conn = self._conn
            conn.flush()  # what ran before the block is not counted
            self._prev = conn.profiler
            self._t0 = time.perf_counter()
            conn.profiler = self
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if not self.enabled:
            return
        conn = self._conn
        try:
            if exc_type is None:  # (after an error, what is pending runs with the next request)
                conn.flush()  # the block's ops run now, timed
        finally:
            conn.profiler = self._prev

    def received(self, sent_at: float, report: dict[str, Any]) -> None:
        """A graph response's ``profile``: its events, as this profile's."""
        base = (sent_at - self._t0) * 1e6
        for e in report.get("events", ()):
            self.function_events.append(
                FunctionEvent(
                    e["name"],
                    base + e["start_us"],
                    e["cpu_time_us"],
                    e["input_shapes"] if self.record_shapes else [],
                )
            )
        self.nodes.extend(report.get("nodes", ()))


class RemoteRecordFunction:
    """``record_function(name)``: a named range in the active profile; the ops recorded
    inside it run on the server before it closes, so its time includes theirs."""

    def __init__(self, conn: Connection, name: str, args: str | None = None) -> None:
        self._conn = conn
        self.name = name
        self._start = 0.0

    def __enter__(self) -> RemoteRecordFunction:
        prof = self._conn.profiler
        if prof is not None:
            self._conn.flush()
        self._start = time.perf_counter()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        prof = self._conn.profiler
        if prof is None:
            return
        if exc_type is None:
            self._conn.flush()
        end = time.perf_counter()
        prof.function_events.append(
            FunctionEvent(self.name, (self._start - prof._t0) * 1e6, (end - self._start) * 1e6)
        )
