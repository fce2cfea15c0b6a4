"""``gradserve doctor``: what this machine offers the service, and whether anything is wrong.

Prints the array backends, whether the configured session store answers, whether Graphviz can
draw graph pictures, and the limits in force. Exits 1 when something the service needs is
broken (no backend, an unreachable store); a missing Graphviz is a warning (only the SVG
pictures need it).
"""

from __future__ import annotations

import sys
from typing import TextIO

import engine

from .render import INSTALL_HINT, graphviz_version
from .settings import Settings
from .stores import REDIS_SCHEMES

__all__ = ["check_store", "run_doctor"]

LIMITS = (
    "max_tensor_elements",
    "max_session_bytes",
    "max_sessions",
    "max_nodes_per_request",
    "max_body_bytes",
    "max_json_values",
    "default_ttl_seconds",
    "max_ttl_seconds",
    "max_anonymous_ttl_seconds",
    "max_sessions_per_client",
    "sessions_per_client_per_minute",
    "session_burst_per_client",
    "max_picture_nodes",
    "compute_threads",
)


def check_store(store: str, timeout: float = 3.0) -> tuple[bool, str]:
    """Whether the session store answers, and what was seen."""
    if store == "memory":
        return True, "memory (in this process; sessions are lost on restart)"
    if not store.startswith(REDIS_SCHEMES):
        return False, f"{store!r} is neither 'memory' nor a redis:// URL"
    import redis

    client = redis.Redis.from_url(store, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
        return True, f"{_redact(store)} answers PING"
    except redis.RedisError as exc:
        return False, f"{_redact(store)} does not answer: {exc}"
    finally:
        client.close()


def _redact(url: str) -> str:
    """The URL without a password (redis://:secret@host -> redis://:***@host)."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, creds = head.partition("//")
    user = creds.split(":", 1)[0]
    return f"{scheme}//{user}:***@{tail}"


def run_doctor(settings: Settings, out: TextIO | None = None) -> int:
    """Print the report (on stdout by default); 0 when the service can run here, 1 on a
    problem."""
    out = out or sys.stdout
    problems: list[str] = []

    def line(status: str, what: str, text: str) -> None:
        print(f"[{status:>4}] {what:<10} {text}", file=out)

    usable = []
    for b in engine.backends():
        if b.get("available"):
            usable.append(b["name"])
            extra = ", ".join(f"{k} {v}" for k, v in b.items() if k not in ("name", "available"))
            line("ok", "backend", f"{b['name']} ({extra})")
        else:
            line("--", "backend", f"{b['name']}: not available ({b.get('reason', 'unknown')})")
    if not usable:
        problems.append("no array backend is available")

    ok, text = check_store(settings.store)
    line("ok" if ok else "FAIL", "store", text)
    if not ok:
        problems.append(f"the session store is unreachable: {text}")

    version = graphviz_version()
    if version is not None:
        line("ok", "graphviz", f"dot {version}: GET .../graph.svg draws pictures")
    else:
        line("warn", "graphviz", f"`dot` not found: GET .../graph.svg answers 501; {INSTALL_HINT}")

    for name in LIMITS:
        line("", "limit", f"{name} = {getattr(settings, name)} (GRADSERVE_{name.upper()})")
    line("", "listen", f"{settings.host}:{settings.port}, {settings.workers} worker(s)")
    line("", "api keys", "required" if settings.api_keys else "not required (anonymous sessions)")

    for p in problems:
        print(f"problem: {p}", file=out)
    print("doctor: " + ("problems found" if problems else "all good"), file=out)
    return 1 if problems else 0
