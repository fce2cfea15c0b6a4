"""The embedded default store: sessions as live objects in this process's memory."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from .base import Session, Usage, session_not_found

__all__ = ["MemoryStore"]


class MemoryStore:
    """Sessions in a dict; a request holds the session's asyncio lock, and the lease it
    gets is the live session itself (``load`` hands it back, ``save`` has nothing to write)."""

    kind = "memory"

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    # --------------------------------------------------------- the contract
    async def create(self, session: Session, max_sessions: int) -> bool:
        if len(self._sessions) >= max_sessions:
            return False
        self._sessions[session.id] = session
        return True

    async def token_digest(self, session_id: str) -> bytes | None:
        s = self._sessions.get(session_id)
        if s is None:
            return None
        if s.expires_at <= time.time():
            self._drop(session_id)
            return None
        return s.token_digest

    @contextlib.asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[Session]:
        s = self._sessions.get(session_id)
        if s is None:
            raise session_not_found(session_id)
        # queueing counts as use: the sweeper must not free a session a request waits for
        s.renew(time.time())
        async with s.lock:
            yield s

    async def load(self, session_id: str, lease: Session) -> Session:
        if self._sessions.get(session_id) is not lease:  # deleted while this request waited
            raise session_not_found(session_id)
        lease.renew(time.time())
        return lease

    async def save(self, session: Session, lease: Session) -> None:
        """Nothing to write: the request changed the live session itself, and its byte
        count is kept as it changes (``service.sessions.commit``)."""

    async def delete(self, session_id: str) -> None:
        self._drop(session_id)

    async def expire(self, now: float) -> list[str]:
        # a session whose lock is held is mid-request (its worker thread may be iterating
        # its names): it is swept on a later pass, never cleared under that thread
        gone = [
            sid for sid, s in self._sessions.items() if s.expires_at <= now and not s.lock.locked()
        ]
        for sid in gone:
            self._drop(sid)
        return gone

    def usage(self) -> Usage:
        return Usage(len(self._sessions), sum(s.bytes for s in self._sessions.values()))

    async def refresh_usage(self) -> None:
        """Nothing to do: ``usage()`` is exact."""

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        """Nothing to release."""

    # ---------------------------------------------- in-process views (tests)
    def get(self, session_id: str) -> Session | None:
        """The live session object, if any."""
        return self._sessions.get(session_id)

    def count(self) -> int:
        return len(self._sessions)

    def _drop(self, session_id: str) -> None:
        s = self._sessions.pop(session_id, None)
        if s is not None:
            s.names.clear()  # drop every tensor and graph now, not at the next GC
