"""Sessions: the manager (auth, TTL, sweeping) over any store, and the session logic that
routes share (name lookup, byte accounting, binding names under the quota).

A session is a namespace of names bound to engine tensors, with its own backend,
random generator and lock. Requests on one session serialize on it; different sessions
run in parallel. Where a session lives between requests is its store's business
(``service/stores``): ``SessionManager`` drives every store through the same contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import numpy as np

import engine
from engine.state import allocated_bytes, footprint, nbytes
from engine.tensor import Tensor

from .errors import ApiError
from .settings import Settings
from .stores import Session, SessionStore, session_not_found, store_for, wait_set

__all__ = [
    "Session",
    "SessionManager",
    "account",
    "commit",
    "lookup",
    "measure",
    "session_bytes",
]

log = logging.getLogger("gradserve.sessions")


_NO_DIGEST = bytes(32)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# ------------------------------------------------------------------- session logic
def lookup(session: Session, name: str) -> Tensor:
    """The tensor bound to ``name``; 404 ``tensor_not_found`` when none."""
    t = session.names.get(name)
    if t is None:
        raise ApiError(404, "tensor_not_found", f"no tensor named {name!r} in this session")
    return t


def commit(
    session: Session, settings: Settings, bind: dict[str, Tensor], unbind: Iterable[str] = ()
) -> None:
    """Bind names if the session stays within its byte quota (507 otherwise, nothing bound).

    Costs what the request binds and unbinds, not the session's size: the names are
    changed in place (a store that reads names lazily reads only these)."""
    names = session.names
    freed = set(unbind)  # unbound even if the request bound them too
    probe = getattr(names, "probe", None)
    if probe is not None:  # a store's lazy names: which are bound, in one read
        probe([*bind, *freed])
    gone = {n for n in freed if n in names}
    bind = {n: t for n, t in bind.items() if n not in freed}
    new = [n for n in bind if n not in names]
    count = len(names) + len(new) - len(gone)
    if count > settings.max_tensors_per_session and count > len(names):
        raise ApiError(
            507,
            "too_many_tensors",
            f"the session would bind {count} names, above its limit of "
            f"{settings.max_tensors_per_session} (GRADSERVE_MAX_TENSORS_PER_SESSION)",
        )
    added = allocated_bytes() + sum(nbytes(t) for t in bind.values())

    def trial() -> dict[str, Tensor]:
        out = dict(names.items())
        out.update(bind)
        for name in gone:
            out.pop(name, None)
        return out

    size = account(session, settings, added, trial)
    if size > settings.max_session_bytes and size > session.bytes:
        raise ApiError(
            507,
            "session_quota_exceeded",
            f"the session would hold {size} bytes, above its quota of {settings.max_session_bytes}",
        )
    names.update(bind)
    for name in gone:
        del names[name]
    session.bytes = size


def account(session: Session, settings: Settings, added: int, trial: Any = None) -> int:
    """The session's bytes after a request added at most ``added`` bytes.

    Walking a large graph costs milliseconds, so while ``bytes + added`` stays within the
    quota and within twice the last measurement, the upper bound stands in for the
    measurement; otherwise the session (or ``trial``, the names it would hold, or a
    function returning them) is walked.
    """
    upper = session.bytes + added
    if upper <= settings.max_session_bytes and upper <= 2 * session.exact_bytes + (1 << 20):
        return upper
    names = session.names if trial is None else trial() if callable(trial) else trial
    exact = session_bytes(names)
    session.exact_bytes = exact
    return exact


def measure(session: Session) -> int:
    """Walk the session: its exact byte count, which also replaces its upper bound."""
    session.bytes = session.exact_bytes = session_bytes(session.names)
    return session.bytes


def session_bytes(names: dict[str, Tensor]) -> int:
    """Bytes of every array the session keeps alive: tensors, grads and saved graph values.

    Views count once, through the array that owns the memory.
    """
    return footprint(names.values()).nbytes


# ------------------------------------------------------------------------- manager
class SessionManager:
    """Creates, authenticates, opens (lock + load + save), renews and sweeps sessions.

    Every store takes the same steps (``service/stores/base.py``): a request authenticates
    against the stored token digest, takes the session's lock (the memory store's asyncio
    lock, the Redis store's lease), loads the session, and saves it back when it succeeded.
    """

    def __init__(self, settings: Settings, store: SessionStore | None = None) -> None:
        self.settings = settings
        self.store: SessionStore = store if store is not None else store_for(settings)
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        prepare = getattr(self.store, "prepare", None)
        if prepare is not None:
            await prepare()
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
        await self.store.close()

    async def _sweep_forever(self) -> None:
        while not await wait_set(self._stopping, self.settings.sweep_interval_seconds):
            try:
                await self.sweep()
                await self.store.refresh_usage()
            except Exception:  # a store outage must not kill the sweeper
                log.exception("session sweep failed")

    async def sweep(self) -> list[str]:
        """Free every expired session now."""
        gone = await self.store.expire(time.time())
        if gone:
            log.info("expired sessions freed", extra={"count": len(gone)})
        return gone

    async def ready(self) -> bool:
        return bool(await self.store.ping())

    def live_sessions(self) -> int:
        """Live sessions (a shared store's figure is refreshed by the sweeper)."""
        return self.store.usage().sessions

    def total_bytes(self) -> int:
        """Bytes the sessions hold (a shared store's figure is refreshed by the sweeper)."""
        return self.store.usage().bytes

    # ------------------------------------------------------------------ sessions
    async def create(
        self, backend: str = "numpy", ttl_seconds: int | None = None, seed: int | None = None
    ) -> tuple[Session, str]:
        """A new session and its bearer token (only ever returned here)."""
        await self.sweep()
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
        if not await self.store.create(session, self.settings.max_sessions):
            raise ApiError(
                429,
                "too_many_sessions",
                f"the server holds its maximum of {self.settings.max_sessions} sessions",
                headers={"Retry-After": "30"},  # the sweeper frees expired ones meanwhile
            )
        return session, token

    @staticmethod
    def _token(authorization: str | None) -> str:
        if not authorization:
            raise ApiError(401, "unauthorized", "missing Authorization: Bearer <token> header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "the Authorization header must be 'Bearer <token>'")
        return token.strip()

    @contextlib.asynccontextmanager
    async def open(self, session_id: str, authorization: str | None) -> AsyncIterator[Session]:
        """The session, exclusively, for one request; saved back if the request succeeds.

        401 without a bearer token; 404 ``session_not_found`` for an unknown or expired
        session and for a wrong token alike.
        """
        token = self._token(authorization)
        combined = getattr(self.store, "session", None)
        if combined is not None:
            # a store that authenticates, locks and loads in one step (Redis: one script,
            # the token checked before the lease is taken) and saves and releases in one
            async with combined(session_id, _digest(token)) as session:
                yield session
            return
        # authenticate before queueing for the lock: a stranger never holds a session's lock
        digest = await self.store.token_digest(session_id)
        # an unknown id is compared too (against a digest no token has): a wrong token on a
        # session that exists and an id that does not take the same steps
        matches = hmac.compare_digest(digest or _NO_DIGEST, _digest(token))
        if digest is None or not matches:
            raise session_not_found(session_id)
        async with self.store.lock(session_id) as lease:
            session = await self.store.load(session_id, lease)
            yield session
            if not session.deleted:
                await self.store.save(session, lease)

    async def delete(self, session: Session) -> None:
        """Delete the session and free every byte of it (call it inside ``open``)."""
        session.deleted = True
        await self.store.delete(session.id)
