"""Per-client limits on opening sessions, so one client cannot take every session slot.

A client is its API key when the server has keys (the key's digest, never the key), else its
peer address (behind a proxy, uvicorn's ``--proxy-headers``/``FORWARDED_ALLOW_IPS`` makes that
the real client). Each client has a token bucket of session creations and a cap on the
sessions it holds at once; both are counted per server process (with several replicas, each
replica counts its own). Anonymous sessions also get a shorter maximum TTL.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass, field

from fastapi import Request

from .errors import ApiError
from .settings import Settings

__all__ = ["ClientLimits", "client_key"]

_MAX_TRACKED = 10_000  # clients remembered before idle ones are forgotten


def client_key(request: Request, api_key: str | None) -> str:
    """Who is asking: ``key:<digest>`` with an API key, else ``addr:<peer>``."""
    if api_key:
        return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:32]
    peer = request.client.host if request.client is not None else "unknown"
    return "addr:" + peer


@dataclass
class _Client:
    tokens: float
    stamp: float
    live: dict[str, float] = field(default_factory=dict)  # session id -> expiry (epoch s)


class ClientLimits:
    """Token buckets and live-session counts by client key."""

    def __init__(self, settings: Settings) -> None:
        self.rate = settings.sessions_per_client_per_minute / 60.0
        self.burst = float(settings.session_burst_per_client)
        self.max_live = settings.max_sessions_per_client
        self._clients: dict[str, _Client] = {}
        self._owner: dict[str, str] = {}  # session id -> client key
        self._lock = threading.Lock()

    def admit(self, key: str, now: float | None = None) -> None:
        """Take one session creation from ``key``'s budget, or raise 429 with Retry-After."""
        now = time.time() if now is None else now
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                self._forget_idle(now)
                c = self._clients[key] = _Client(self.burst, now)
            c.tokens = min(self.burst, c.tokens + (now - c.stamp) * self.rate)
            c.stamp = now
            for sid in [s for s, exp in c.live.items() if exp <= now]:
                del c.live[sid]
                self._owner.pop(sid, None)
            if len(c.live) >= self.max_live:
                wait = min(c.live.values()) - now
                raise _too_many(
                    f"this client holds its maximum of {self.max_live} sessions; delete one "
                    "(DELETE /v1/sessions/{id}) or wait for one to expire",
                    wait,
                )
            if self.rate > 0 and c.tokens < 1.0:
                raise _too_many(
                    "this client opens sessions faster than "
                    f"{self.rate * 60:g} a minute (burst {self.burst:g})",
                    (1.0 - c.tokens) / self.rate,
                )
            if self.rate > 0:
                c.tokens -= 1.0

    def opened(self, key: str, session_id: str, expires_at: float) -> None:
        """Count a session ``key`` now holds (until it expires or is deleted)."""
        with self._lock:
            c = self._clients.setdefault(key, _Client(self.burst, time.time()))
            c.live[session_id] = expires_at
            self._owner[session_id] = key

    def closed(self, session_id: str) -> None:
        """A session was deleted: its client may open another."""
        with self._lock:
            c = self._clients.get(self._owner.pop(session_id, ""))
            if c is not None:
                c.live.pop(session_id, None)

    def _forget_idle(self, now: float) -> None:
        if len(self._clients) < _MAX_TRACKED:
            return
        for key in [
            k
            for k, c in self._clients.items()
            if not c.live and c.tokens + (now - c.stamp) * self.rate >= self.burst
        ]:
            del self._clients[key]


def _too_many(detail: str, retry_after: float) -> ApiError:
    seconds = max(1, math.ceil(retry_after))
    return ApiError(429, "too_many_requests", detail, headers={"Retry-After": str(seconds)})
