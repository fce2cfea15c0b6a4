"""The session-store contract: the session a store holds, and what every store does with it.

A store keeps sessions between requests. ``SessionManager`` (``service/sessions.py``) drives
every store the same way, one request at a time per session:

    create(session, max_sessions)   admit and keep a new session (False when full)
    token_digest(id)                the token check's input, read without any lock
    lock(id) -> lease               exclusive use of the session for one request
    load(id, lease) -> Session      the session as the last holder left it; renews its TTL
    save(session, lease)            write it back (only when the request succeeded)
    delete(id)                      free every byte of it now
    expire(now)                     forget the sessions whose time is up
    usage() / refresh_usage()       live sessions and bytes held, for metrics

``memory`` keeps live objects in this process; ``redis`` keeps every byte in Redis so that
replicas are stateless. Both run the same contract tests (tests/scale/test_store_contract.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import numpy as np

from engine.backend import Backend
from engine.tensor import Tensor

from ..errors import ApiError

__all__ = ["Session", "SessionStore", "Usage", "session_not_found", "wait_set"]


@dataclass(eq=False)
class Session:
    """One client's namespace of tensors."""

    id: str
    token_digest: bytes
    backend: Backend
    ttl_seconds: int
    expires_at: float
    generator: np.random.Generator
    names: dict[str, Tensor] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    bytes: int = 0
    name_counter: int = 0  # the last automatic name given (t1, t2, ...)
    deleted: bool = False
    exact_bytes: int = 0  # ``bytes`` as last measured; ``bytes`` itself may be an upper bound
    # optimizers by name: JSON config (service.optimizers); their tensors are in ``names``
    optimizers: dict[str, Any] = field(default_factory=dict)

    def new_name(self) -> str:
        """A name no tensor has yet (for tensors created without one)."""
        while True:
            self.name_counter += 1
            name = f"t{self.name_counter}"
            if name not in self.names:
                return name

    def expires_at_iso(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, tz=UTC)

    def renew(self, now: float) -> None:
        """Start the session's TTL over: it was used at ``now``."""
        self.expires_at = now + self.ttl_seconds


class Usage(NamedTuple):
    """What a store holds: live sessions and their bytes."""

    sessions: int
    bytes: int


class SessionStore(Protocol):
    """Where sessions live between requests (see the module docstring for the protocol)."""

    kind: str  # "memory" or "redis"

    async def create(self, session: Session, max_sessions: int) -> bool:
        """Keep a new session unless the store holds ``max_sessions`` already (then False,
        and nothing kept). Admission is atomic: concurrent creators cannot overshoot."""
        ...

    async def token_digest(self, session_id: str) -> bytes | None:
        """The SHA-256 digest of the session's token; None when no such live session."""
        ...

    def lock(self, session_id: str) -> AbstractAsyncContextManager[Any]:
        """Hold the session exclusively for one request; yields the lease that ``load`` and
        ``save`` take. 404 ``session_not_found`` when the session is gone."""
        ...

    async def load(self, session_id: str, lease: Any) -> Session:
        """The session as the previous holder left it (names, graph, generator, name counter,
        bytes), its TTL renewed. 404 ``session_not_found`` when it is gone."""
        ...

    async def save(self, session: Session, lease: Any) -> None:
        """Write the session back under the lease; sets ``session.bytes`` to what the store
        measured, where it measures. A store whose lease was lost refuses (409)."""
        ...

    async def delete(self, session_id: str) -> None:
        """Free every byte of the session now."""
        ...

    async def expire(self, now: float) -> list[str]:
        """Forget every session whose time is up at ``now`` (never one mid-request); their ids."""
        ...

    def usage(self) -> Usage:
        """Live sessions and bytes held, as the store last knew them (cheap, synchronous)."""
        ...

    async def refresh_usage(self) -> None:
        """Re-count ``usage()`` where it is not kept exact as it changes (the sweeper calls it)."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers (readiness)."""
        ...

    async def close(self) -> None:
        """Release the store's connections."""
        ...


def session_not_found(session_id: str) -> ApiError:
    # one session's token never reveals another's existence: the same answer for both
    return ApiError(404, "session_not_found", f"no session {session_id!r} for this token")


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Sleep until the event is set or the time is up; whether it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
