"""Sessions: the store protocol, the in-memory store, and the manager (auth, TTL, sweeping).

A session is a namespace of names bound to engine tensors, with its own backend,
random generator and lock. Requests on one session serialize on its lock;
different sessions run in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

import engine
from engine.backend import Backend
from engine.tensor import Tensor

from .errors import ApiError
from .settings import Settings

__all__ = ["MemoryStore", "Session", "SessionManager", "SessionStore", "session_bytes"]

log = logging.getLogger("gradserve.sessions")


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
    _auto: int = 0

    def new_name(self) -> str:
        """A name no tensor has yet (for tensors created without one)."""
        while True:
            self._auto += 1
            name = f"t{self._auto}"
            if name not in self.names:
                return name

    def expires_at_iso(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, tz=UTC)


class SessionStore(Protocol):
    """Where sessions live: the memory store now, others behind the same contract."""

    def create(self, session: Session) -> None: ...
    def get(self, session_id: str) -> Session | None: ...
    def delete(self, session_id: str) -> bool: ...
    def touch(self, session_id: str, expires_at: float) -> None: ...
    def expire(self, now: float) -> list[str]: ...
    def count(self) -> int: ...
    def sessions(self) -> Iterator[Session]: ...
    def ping(self) -> bool: ...


class MemoryStore:
    """The embedded default: sessions in this process's memory."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def create(self, session: Session) -> None:
        self._sessions[session.id] = session

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def delete(self, session_id: str) -> bool:
        s = self._sessions.pop(session_id, None)
        if s is None:
            return False
        s.names.clear()  # drop every tensor and graph now, not at the next GC
        return True

    def touch(self, session_id: str, expires_at: float) -> None:
        s = self._sessions.get(session_id)
        if s is not None:
            s.expires_at = expires_at

    def expire(self, now: float) -> list[str]:
        # a session whose lock is held is mid-request (its worker thread may be iterating
        # its names): it is swept on a later pass, never cleared under that thread
        gone = [
            sid for sid, s in self._sessions.items() if s.expires_at <= now and not s.lock.locked()
        ]
        for sid in gone:
            self.delete(sid)
        return gone

    def count(self) -> int:
        return len(self._sessions)

    def sessions(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def ping(self) -> bool:
        return True


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def session_bytes(names: dict[str, Tensor]) -> int:
    """Bytes of every array the session keeps alive: tensors, grads and saved graph values.

    Views count once, through the array that owns the memory.
    """
    from engine.serialize import dump

    _, arrays = dump(names)
    owners: dict[int, Any] = {}
    for a in arrays.values():
        root = a
        while getattr(root, "base", None) is not None and hasattr(root.base, "nbytes"):
            root = root.base
        owners[id(root)] = root
    return sum(int(r.nbytes) for r in owners.values())


class SessionManager:
    """Creates, authenticates, renews and sweeps sessions."""

    def __init__(self, settings: Settings, store: SessionStore | None = None) -> None:
        self.settings = settings
        self.store: SessionStore = store if store is not None else MemoryStore()
        self._sweeper: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="gradserve-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            self.sweep()

    def sweep(self) -> list[str]:
        """Free every expired session now."""
        gone = self.store.expire(time.time())
        if gone:
            log.info("expired sessions freed", extra={"count": len(gone)})
        return gone

    # ------------------------------------------------------------------ sessions
    def create(
        self, backend: str = "numpy", ttl_seconds: int | None = None, seed: int | None = None
    ) -> tuple[Session, str]:
        """A new session and its bearer token (only ever returned here)."""
        self.sweep()
        if self.store.count() >= self.settings.max_sessions:
            raise ApiError(
                429,
                "too_many_sessions",
                f"the server holds its maximum of {self.settings.max_sessions} sessions",
            )
        be = engine.get_backend(backend)
        ttl = min(ttl_seconds or self.settings.default_ttl_seconds, self.settings.max_ttl_seconds)
        token = secrets.token_urlsafe(32)  # 256 bits
        session = Session(
            id=secrets.token_urlsafe(16),  # 128 bits
            token_digest=_digest(token),
            backend=be,
            ttl_seconds=ttl,
            expires_at=time.time() + ttl,
            generator=np.random.default_rng(seed),
        )
        self.store.create(session)
        return session, token

    def authenticate(self, session_id: str, authorization: str | None) -> Session:
        """The session for a bearer token; renews its TTL. 401 without a token, else 404."""
        if not authorization:
            raise ApiError(401, "unauthorized", "missing Authorization: Bearer <token> header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "the Authorization header must be 'Bearer <token>'")
        session = self.store.get(session_id)
        now = time.time()
        ok = session is not None and hmac.compare_digest(
            session.token_digest, _digest(token.strip())
        )
        if not ok or session is None or session.expires_at <= now:
            if session is not None and session.expires_at <= now:
                self.store.delete(session_id)
            # one session's token never reveals another's existence
            raise ApiError(404, "session_not_found", f"no session {session_id!r} for this token")
        session.expires_at = now + session.ttl_seconds
        self.store.touch(session.id, session.expires_at)
        return session

    def delete(self, session: Session) -> None:
        self.store.delete(session.id)

    def total_bytes(self) -> int:
        return sum(s.bytes for s in self.store.sessions())
