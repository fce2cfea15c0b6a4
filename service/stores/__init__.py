"""Session stores: one contract (``base.SessionStore``), two implementations.

``memory`` (the default) keeps sessions in this process; ``redis`` keeps every byte in
Redis so that any replica serves any session. ``store_for`` picks one from the settings.
"""

from __future__ import annotations

from ..settings import Settings
from .base import Session, SessionStore, Usage, session_not_found, wait_set
from .memory import MemoryStore
from .redis import RedisStore

__all__ = [
    "REDIS_SCHEMES",
    "MemoryStore",
    "RedisStore",
    "Session",
    "SessionStore",
    "Usage",
    "session_not_found",
    "store_for",
    "wait_set",
]

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # GRADSERVE_STORE values for Redis


def store_for(settings: Settings) -> SessionStore:
    """The store ``GRADSERVE_STORE`` names: ``memory`` or a Redis URL."""
    if settings.store == "memory":
        return MemoryStore()
    if settings.store.startswith(REDIS_SCHEMES):
        return RedisStore(
            settings.store,
            lease_ms=settings.redis_lease_ms,
            cache_bytes=settings.redis_cache_bytes,
        )
    raise ValueError(f"GRADSERVE_STORE must be 'memory' or a redis:// URL, not {settings.store!r}")
