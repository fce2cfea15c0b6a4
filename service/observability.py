"""Request ids, JSON access logs, Prometheus metrics and the body-size limit, as ASGI middleware."""

from __future__ import annotations

import functools
import itertools
import logging
import os
import re
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prom_multiprocess
from pythonjsonlogger.json import JsonFormatter
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import problem_response

__all__ = ["Metrics", "RequestMiddleware", "configure_logging"]

access_log = logging.getLogger("gradserve.access")
_RID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# request ids: a random prefix per process and a counter (no system call per request)
_RID_PREFIX = os.urandom(6).hex()
_RID_COUNT = itertools.count(1)


def configure_logging(level: str) -> None:
    """Structured JSON logs on stderr for the service's loggers."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("gradserve")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory of prometheus-client's multiprocess mode, when the CLI set one up."""
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """The app's own registry (tests build many apps in one process).

    Under ``gradserve serve --workers N`` the CLI points ``PROMETHEUS_MULTIPROC_DIR`` at a
    fresh directory: every worker then writes its samples there and ``/metrics`` (whichever
    worker answers) reads all of them, so successive scrapes agree. Counters and histograms
    add up over workers; the session gauges come from the shared store, so the most recent
    value wins; bytes moved to and from Redis are per process and add up; the per-worker
    request gauge keeps a ``pid`` label (how the load spreads over the workers).
    """

    def __init__(self, manager: Any) -> None:
        self.manager = manager
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gradserve_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gradserve_request_duration_seconds",
            "Request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        compute = Counter(
            "gradserve_compute",
            "Request compute by where it ran: inline on the event loop, or on the pool",
            ["where"],
            registry=self.registry,
        )
        self.compute_inline = compute.labels("inline")
        self.compute_pool = compute.labels("pool")
        self.worker_requests = Gauge(
            "gradserve_worker_requests",
            "HTTP requests served by this worker process (a pid label under --workers N)",
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.live = Gauge(
            "gradserve_sessions_live",
            "Live sessions",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.held = Gauge(
            "gradserve_session_bytes",
            "Bytes held by sessions",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.moved_gauges: dict[str, Gauge] = {}
        self.moved: dict[str, int] | None = getattr(manager.store, "moved", None)
        if self.moved is not None:  # the Redis store: payload bytes to and from Redis
            for direction in ("to_redis", "from_redis"):
                self.moved_gauges[direction] = Gauge(
                    f"gradserve_store_bytes_{direction}",
                    f"Payload bytes moved {direction.replace('_', ' ')} by this process",
                    registry=self.registry,
                    multiprocess_mode="sum",
                )
        if not self.multiprocess:  # read at scrape time (the multiprocess files are written)
            self.live.set_function(lambda: manager.live_sessions())
            self.held.set_function(lambda: manager.total_bytes())
            moved = self.moved or {}
            for direction, gauge in self.moved_gauges.items():
                gauge.set_function(functools.partial(moved.__getitem__, direction))

    def observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        """Count one request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(elapsed)
        self.worker_requests.inc()
        if self.multiprocess and self.moved is not None:
            # this process's own figure: written where the other workers' scrapes read it
            for direction, gauge in self.moved_gauges.items():
                gauge.set(self.moved[direction])

    def render(self) -> bytes:
        """The Prometheus text: this process's registry, or every worker's samples."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        self.live.set(self.manager.live_sessions())
        self.held.set(self.manager.total_bytes())
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)

    def process_exited(self) -> None:
        """Drop this process's live gauges from the shared directory (at shutdown)."""
        if self.multiprocess:
            prom_multiprocess.mark_process_dead(os.getpid())


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None and "endpoint" in scope and "app" in scope:
        # a plain Starlette route (/openapi.json, /docs): the router records only its endpoint
        endpoint = scope["endpoint"]
        routes = getattr(getattr(scope["app"], "router", None), "routes", ())
        path = next((r.path for r in routes if getattr(r, "endpoint", None) is endpoint), None)
    return path or "unmatched"


class RequestMiddleware:
    """Request id (X-Request-ID accepted and echoed), body limit, access log and metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _RID.match(given) else f"{_RID_PREFIX}{next(_RID_COUNT):010x}"
        scope.setdefault("state", {})["request_id"] = rid
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        length = headers.get(b"content-length")
        too_big = length is not None and length.isdigit() and int(length) > self.max_body
        try:
            if too_big:
                await self._refuse(scope, receive, send_with_id, int(length or 0))
            else:
                await self.app(scope, self._limited(receive), send_with_id)
        except _BodyTooLarge as exc:
            await self._refuse(scope, receive, send_with_id, exc.size)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_of(scope)
            method = scope.get("method", "")
            self.metrics.observe(method, route, status, elapsed)
            access_log.info(
                "request",
                extra={
                    "request_id": rid,
                    "method": method,
                    "path": scope.get("path"),
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge(seen)
            return message

        return wrapped

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        from starlette.requests import Request

        response = problem_response(
            413,
            "payload_too_large",
            f"the request body ({size} bytes or more) is above the limit of {self.max_body}",
            Request(scope),
        )
        await response(scope, receive, send)


class _BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI lets HTTPExceptions through its body parser."""

    def __init__(self, size: int) -> None:
        super().__init__(413, f"the request body ({size} bytes or more) is above the limit")
        self.size = size
