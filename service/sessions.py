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
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

import engine
from engine.backend import Backend
from engine.tensor import Tensor

from .errors import ApiError
from .settings import Settings

__all__ = [
    "REDIS_SCHEMES",
    "MemoryStore",
    "Session",
    "SessionManager",
    "SessionStore",
    "session_bytes",
    "wait_set",
]

log = logging.getLogger("gradserve.sessions")

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # GRADSERVE_STORE values for Redis


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
    deleted: bool = False
    exact_bytes: int = 0  # ``bytes`` as last measured; ``bytes`` itself may be an upper bound

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


def account(session: Session, settings: Settings, added: int, trial: Any = None) -> int:
    """The session's bytes after a request added at most ``added`` bytes.

    Walking a large graph costs milliseconds, so while ``bytes + added`` stays within the
    quota and within twice the last measurement, the upper bound stands in for the
    measurement; otherwise the session (or ``trial``, the names it would hold) is walked.
    """
    upper = session.bytes + added
    if upper <= settings.max_session_bytes and upper <= 2 * session.exact_bytes + (1 << 20):
        return upper
    exact = session_bytes(session.names if trial is None else trial)
    session.exact_bytes = exact
    return exact


def session_bytes(names: dict[str, Tensor]) -> int:
    """Bytes of every array the session keeps alive: tensors, grads and saved graph values.

    Views count once, through the array that owns the memory.
    """
    from engine.serialize import arrays

    owners: dict[int, Any] = {}
    for a in arrays(names):
        root = a
        while getattr(root, "base", None) is not None and hasattr(root.base, "nbytes"):
            root = root.base
        owners[id(root)] = root
    return sum(int(r.nbytes) for r in owners.values())


class SessionManager:
    """Creates, authenticates, opens (lock + load + save), renews and sweeps sessions.

    With the memory store a session is a live object guarded by an asyncio lock; with
    the Redis store (``GRADSERVE_STORE=redis://...``) each request takes the session's
    lease lock, loads it, and writes it back when the request succeeded.
    """

    def __init__(self, settings: Settings, store: Any = None) -> None:
        self.settings = settings
        if store is None:
            if settings.store == "memory":
                store = MemoryStore()
            elif settings.store.startswith(REDIS_SCHEMES):
                from .redis_store import RedisStore

                store = RedisStore(
                    settings.store,
                    lease_ms=settings.redis_lease_ms,
                    cache_bytes=settings.redis_cache_bytes,
                )
            else:
                raise ValueError(
                    f"GRADSERVE_STORE must be 'memory' or a redis:// URL, not {settings.store!r}"
                )
        self.store = store
        self.shared = not isinstance(store, MemoryStore)
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._live = 0
        self._bytes = 0

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="gradserve-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            # the flag as well as the cancel: on Python 3.11 a cancel that lands as a Redis
            # call completes can be swallowed (asyncio.wait_for, gh-86296), and the loop
            # would sleep on; it sees the flag instead. asyncio.wait: stop itself may be
            # cancelled, and that must not be suppressed here.
            self._stopping.set()
            self._sweeper.cancel()
            await asyncio.wait({self._sweeper}, timeout=30)
        if self.shared:
            await self.store.close()

    async def _sweep_forever(self) -> None:
        while not await wait_set(self._stopping, self.settings.sweep_interval_seconds):
            try:
                await self.sweep()
                if self.shared:
                    self._live = await self.store.count()
                    self._bytes = await self.store.total_bytes()
            except Exception:  # a store outage must not kill the sweeper
                log.exception("session sweep failed")

    async def sweep(self) -> list[str]:
        """Free every expired session now."""
        now = time.time()
        gone: list[str] = await self.store.expire(now) if self.shared else self.store.expire(now)
        if gone:
            log.info("expired sessions freed", extra={"count": len(gone)})
        return gone

    async def ready(self) -> bool:
        return bool(await self.store.ping()) if self.shared else bool(self.store.ping())

    def live_sessions(self) -> int:
        """Live sessions (the Redis figure is refreshed by the sweeper)."""
        return self._live if self.shared else int(self.store.count())

    def total_bytes(self) -> int:
        if self.shared:
            return self._bytes
        return sum(s.bytes for s in self.store.sessions())

    # ------------------------------------------------------------------ sessions
    async def create(
        self, backend: str = "numpy", ttl_seconds: int | None = None, seed: int | None = None
    ) -> tuple[Session, str]:
        """A new session and its bearer token (only ever returned here)."""
        await self.sweep()
        full = ApiError(
            429,
            "too_many_sessions",
            f"the server holds its maximum of {self.settings.max_sessions} sessions",
            headers={"Retry-After": "30"},  # the sweeper frees expired ones meanwhile
        )
        if not self.shared and self.store.count() >= self.settings.max_sessions:
            raise full
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
        if self.shared:
            # admission and the count are one step in Redis: replicas cannot overshoot together
            if not await self.store.create(
                session.id, _meta_of(session), ttl * 1000, self.settings.max_sessions
            ):
                raise full
        else:
            self.store.create(session)
        return session, token

    @staticmethod
    def _token(authorization: str | None) -> str:
        if not authorization:
            raise ApiError(401, "unauthorized", "missing Authorization: Bearer <token> header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "the Authorization header must be 'Bearer <token>'")
        return token.strip()

    @staticmethod
    def _not_found(session_id: str) -> ApiError:
        # one session's token never reveals another's existence
        return ApiError(404, "session_not_found", f"no session {session_id!r} for this token")

    def authenticate(self, session_id: str, authorization: str | None) -> Session:
        """The in-memory session for a bearer token; renews its TTL. 401 without a token."""
        token = self._token(authorization)
        session = self.store.get(session_id)
        now = time.time()
        ok = session is not None and hmac.compare_digest(session.token_digest, _digest(token))
        if not ok or session is None or session.expires_at <= now:
            if session is not None and session.expires_at <= now:
                self.store.delete(session_id)
            raise self._not_found(session_id)
        session.expires_at = now + session.ttl_seconds
        self.store.touch(session.id, session.expires_at)
        return session

    @contextlib.asynccontextmanager
    async def open(self, session_id: str, authorization: str | None) -> AsyncIterator[Session]:
        """The session, exclusively, for one request; saved back if the request succeeds."""
        if not self.shared:
            session = self.authenticate(session_id, authorization)
            async with session.lock:
                yield session
            return
        token = self._token(authorization)
        # authenticate before queueing for the lease: a stranger never holds a session's lock
        meta = await self.store.meta(session_id)
        if meta is None or not hmac.compare_digest(
            bytes.fromhex(meta.get("token", "")), _digest(token)
        ):
            raise self._not_found(session_id)
        async with self.store.locked(session_id) as lease:
            ttl = int(meta["ttl"])  # ttl, backend and token never change
            backend = engine.get_backend(meta["backend"])
            # the meta loaded under the lease: the generator, the name counter and the byte
            # count the previous holder saved, not the ones from before the wait
            names, doc, raw, meta = await self.store.load(session_id, ttl * 1000, backend)
            generator = np.random.default_rng()
            generator.bit_generator.state = meta["rng"]
            session = Session(
                id=session_id,
                token_digest=bytes.fromhex(meta["token"]),
                backend=backend,
                ttl_seconds=ttl,
                expires_at=time.time() + ttl,
                generator=generator,
                names=names,
                # the store measured it when it saved: exact, and so the upper bound's base
                bytes=int(meta.get("bytes", 0)),
                exact_bytes=int(meta.get("bytes", 0)),
                _auto=int(meta.get("auto", 0)),
            )
            yield session
            if not session.deleted:
                session.bytes = await self.store.save(
                    session_id, lease, session.names, _meta_of(session), doc, raw, ttl * 1000
                )

    async def delete(self, session: Session) -> None:
        """Delete the session and free every byte of it (call it inside ``open``)."""
        session.deleted = True
        if self.shared:
            await self.store.delete(session.id)
        else:
            self.store.delete(session.id)


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Sleep until the event is set or the time is up; whether it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


def _meta_of(session: Session) -> dict[str, Any]:
    """What the Redis store keeps beside the graph."""
    return {
        "token": session.token_digest.hex(),
        "backend": session.backend.name,
        "ttl": session.ttl_seconds,
        "auto": session._auto,
        "rng": session.generator.bit_generator.state,
        "bytes": session.bytes,
    }
