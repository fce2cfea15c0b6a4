"""What a request may spend: bytes (its session's quota, its own budget, the server's) and time.

A ``Guard`` is told each op's result size before the op allocates (``engine.budget``). It
keeps an upper bound of what the request holds: the bytes measured last time plus every
result allocated since (views and freed temporaries count too, so the bound only grows).
While that bound fits every limit nothing is walked; when it does not, the live objects are
measured exactly and the op is refused only if the exact figure does not fit either.

Between ops it also checks the request's deadline and whether its client went away.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.state import Footprint, allocated_bytes

from .errors import ApiError

if TYPE_CHECKING:
    from .executor import Executor
    from .settings import Settings
    from .stores import Session

__all__ = [
    "NODE_OVERHEAD",
    "TENSOR_OVERHEAD",
    "Guard",
    "ServerBudget",
    "guard_for",
    "physical_memory",
    "weigh",
]

# What a tensor and a graph node cost beside their arrays (Python objects, the name's dict
# entry, the array header): 300,000 empty tensors measured ~480 bytes each in RSS.
TENSOR_OVERHEAD = 512
NODE_OVERHEAD = 512


def physical_memory() -> int:
    """The machine's memory in bytes (0 where the platform does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def weigh(fp: Footprint) -> int:
    """What an ``engine.state.footprint`` costs against a budget: its arrays' bytes plus
    ``TENSOR_OVERHEAD`` per tensor and ``NODE_OVERHEAD`` per graph node."""
    return fp.nbytes + fp.tensors * TENSOR_OVERHEAD + fp.nodes * NODE_OVERHEAD


class ServerBudget:
    """The bytes every session of this process holds, plus what running requests added.

    ``sessions_bytes`` is read when a request starts (the sessions' own figures); each
    running request then holds a reservation for what it adds, updated as it allocates.
    """

    def __init__(self, max_bytes: int, sessions_bytes: Callable[[], int]) -> None:
        self.max_bytes = max_bytes
        self.sessions_bytes = sessions_bytes
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}
        self._total = 0

    def sessions(self) -> int:
        """The sessions' bytes (read from a worker thread too: the event loop may add or drop
        a session while the figure is summed, and then it is summed again)."""
        for _ in range(10):
            try:
                return self.sessions_bytes()
            except RuntimeError:  # dictionary changed size during iteration
                continue
        return self.sessions_bytes()

    def full(self) -> ApiError:
        return ApiError(
            503,
            "server_memory_exhausted",
            f"the server holds its budget of {self.max_bytes} bytes "
            "(GRADSERVE_MAX_SERVER_BYTES); retry later or free tensors",
            headers={"Retry-After": "5"},
        )

    def check_new(self, nbytes: int = 0) -> None:
        """503 when the sessions plus running requests plus ``nbytes`` exceed the budget."""
        if self.sessions() + self._total + nbytes > self.max_bytes:
            raise self.full()

    def hold(self, key: int, nbytes: int, base: int) -> None:
        """Set request ``key``'s reservation to ``nbytes``; refuse growth beyond the budget
        (``base``: the sessions' bytes as read when the request started)."""
        with self._lock:
            before = self._held.get(key, 0)
            if nbytes > before and base + self._total - before + nbytes > self.max_bytes:
                raise self.full()
            self._held[key] = nbytes
            self._total += nbytes - before

    def release(self, key: int) -> None:
        with self._lock:
            self._total -= self._held.pop(key, 0)


class Guard:
    """One request's limits, checked before each op allocates (``reserve``) and between nodes.

    The session's quota counts array bytes (what ``GET /v1/sessions/{id}`` reports); the
    request's budget and the server's also charge each tensor's and node's overhead.
    ``measure`` returns the exact figures (called only when an upper bound does not fit):
    array bytes and charged bytes of what the session plus the request hold now, and the
    same two of what the session held when the request started.
    """

    def __init__(
        self,
        *,
        session_bytes: int,
        max_session_bytes: int,
        max_request_bytes: int,
        measure: Callable[[], tuple[int, int, int, int]],
        server: ServerBudget | None = None,
        deadline: float | None = None,
        cancelled: threading.Event | None = None,
    ) -> None:
        self.max_session_bytes = max_session_bytes
        self.max_request_bytes = max_request_bytes
        self.measure = measure
        self.server = server
        self.deadline = deadline
        self.cancelled = cancelled
        self.total = session_bytes  # array bytes of session + request at the last measure
        self.start = session_bytes  # array bytes of the session before the request
        self.request = 0  # charged bytes the request added, at the last measure
        self._mark = allocated_bytes()
        self._ops = 0
        self._base = server.sessions() if server is not None else 0

    def check_time(self) -> None:
        """408 when the client went away, 504 past the deadline (the caller rolls back)."""
        if self.cancelled is not None and self.cancelled.is_set():
            raise ApiError(408, "client_disconnected", "the client closed the connection")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ApiError(
                504,
                "deadline_exceeded",
                "the request ran past its compute deadline (GRADSERVE_MAX_REQUEST_SECONDS); "
                "nothing was applied",
            )

    def reserve(self, nbytes: int) -> None:
        """Refuse (507/503) an op whose ``nbytes`` result would not fit, before it allocates."""
        # called for every op and every gradient a backward computes: the usual case (the
        # upper bound fits) is checked inline here, as ``check_time`` and ``_fits`` check it
        cancelled, deadline = self.cancelled, self.deadline
        if (cancelled is not None and cancelled.is_set()) or (
            deadline is not None and time.monotonic() > deadline
        ):
            self.check_time()
        overhead = TENSOR_OVERHEAD + NODE_OVERHEAD
        grown = allocated_bytes() - self._mark
        self._ops += 1
        total = self.total + grown + nbytes
        request = self.request + grown + nbytes + self._ops * overhead
        if request <= self.max_request_bytes and (
            total <= self.max_session_bytes or total <= self.start
        ):
            server = self.server
            if server is None:
                return
            try:
                server.hold(id(self), request, self._base)
                return
            except ApiError:
                pass  # the server's budget: the exact figure below decides
        now, now_charged, self.start, start_charged = self.measure()
        self.total, self.request = now, max(0, now_charged - start_charged)
        self._mark, self._ops = allocated_bytes(), 0
        self._fits(self.total + nbytes, self.request + nbytes + overhead, upper=False)

    def _fits(self, total: int, request: int, *, upper: bool) -> bool:
        if request > self.max_request_bytes:
            if upper:
                return False
            raise ApiError(
                507,
                "request_budget_exceeded",
                f"the request would hold {request} bytes, above its budget of "
                f"{self.max_request_bytes} (GRADSERVE_MAX_REQUEST_BYTES)",
            )
        if total > self.max_session_bytes and total > self.start:
            if upper:
                return False
            raise ApiError(
                507,
                "session_quota_exceeded",
                f"the session would hold {total} bytes, above its quota of "
                f"{self.max_session_bytes}",
            )
        if self.server is not None:
            try:
                self.server.hold(id(self), request, self._base)
            except ApiError:
                if upper:
                    return False
                raise
        return True

    def close(self) -> None:
        if self.server is not None:
            self.server.release(id(self))


def guard_for(
    session: Session,
    settings: Settings,
    ex: Executor,
    server: ServerBudget | None,
    cancelled: threading.Event | None,
) -> Guard:
    """The guard of one request on ``session`` (its deadline starts now)."""
    return Guard(
        session_bytes=session.bytes,
        max_session_bytes=settings.max_session_bytes,
        max_request_bytes=settings.max_request_bytes,
        measure=ex.measure,
        server=server,
        deadline=time.monotonic() + settings.max_request_seconds,
        cancelled=cancelled,
    )
