"""Dependencies as named ``Annotated`` aliases (FastAPI's style)."""

from __future__ import annotations

import hmac
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Annotated, Any, NamedTuple, TypeVar

import anyio
from fastapi import Depends, Header, HTTPException, Path, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api_schema.tensors import NAME_PATTERN
from engine.state import count_allocations

from .codecs import dumps
from .errors import ApiError
from .jsonbody import parse_json
from .sessions import Session, SessionManager
from .settings import Settings

__all__ = [
    "ApiKeyDep",
    "ManagerDep",
    "NamePath",
    "OrjsonRoute",
    "SessionDep",
    "SettingsDep",
    "compute",
    "hot_route",
    "json_response",
    "request_bytes",
]

T = TypeVar("T")


# Dependencies are ``async def``: they are trivial, and a sync one costs a thread hop per call.
async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_manager(request: Request) -> SessionManager:
    manager: SessionManager = request.app.state.manager
    return manager


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ManagerDep = Annotated[SessionManager, Depends(get_manager)]


# The OpenAPI document declares the token as an HTTP bearer scheme, so Swagger UI's Authorize
# button sends it. auto_error=False: the session manager checks the raw header itself and
# answers with its own 401/404 problems.
SessionToken = HTTPBearer(
    scheme_name="SessionToken",
    description="The session's token from POST /v1/sessions: `Authorization: Bearer <token>`.",
    auto_error=False,
)


async def get_session(
    manager: ManagerDep,
    request: Request,
    session_id: Annotated[str, Path(description="The session id from POST /v1/sessions.")],
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(SessionToken)] = None,
) -> AsyncIterator[Session]:
    """The session, held exclusively for the whole request (its lock; with Redis, its lease),
    and written back when the request succeeds."""
    async with manager.open(session_id, request.headers.get("authorization")) as session:
        yield session


# scope="function": the session is written back (and its lock released) when the handler
# returns, before the response goes out; with the default ("request") FastAPI runs the exit
# code after sending, so a client could be told 201 for a write a crash then loses.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
NamePath = Annotated[str, Path(pattern=NAME_PATTERN, description="A tensor name.")]


async def require_api_key(
    settings: SettingsDep, x_api_key: Annotated[str | None, Header()] = None
) -> None:
    """With GRADSERVE_API_KEYS set, the key must be one of them."""
    if settings.api_keys and not key_matches(x_api_key, settings.api_keys):
        raise ApiError(401, "unauthorized", "missing or wrong X-API-Key")


def key_matches(given: str | None, keys: list[str]) -> bool:
    """Whether ``given`` is one of ``keys``, in time that does not depend on where they differ
    (every key is compared, each in constant time)."""
    probe = (given or "").encode()
    hits = [hmac.compare_digest(probe, k.encode()) for k in keys]
    return given is not None and any(hits)


ApiKeyDep = Depends(require_api_key)


async def compute(
    request: Request,
    fn: Callable[[], T],
    cancelled: threading.Event | None = None,
    cost: int | None = None,
) -> T:
    """Run CPU-heavy work on the compute threads, or inline when it is small.

    With ``cancelled``, the event is set as soon as the client disconnects: the work checks
    it between ops, stops and rolls back (a thread cannot be interrupted from outside), so
    the session's lock is released promptly.

    ``cost`` is the caller's estimate of the bytes the work touches: at or below
    ``GRADSERVE_INLINE_MAX_BYTES`` it runs inline on the event loop (a thread hop costs more
    than a small request's whole compute; nothing to watch for a disconnect meanwhile);
    above it, or with no estimate, it goes to the bounded pool.
    ``gradserve_compute_total{where}`` counts both.
    """
    state = request.app.state
    inline_max = state.settings.inline_max_bytes
    if cost is not None and inline_max > 0 and cost <= inline_max:
        state.metrics.compute_inline.inc()
        with count_allocations():
            return fn()
    state.metrics.compute_pool.inc()
    limiter: anyio.CapacityLimiter = state.limiter

    def run() -> T:
        with count_allocations():  # session byte accounting counts what this request allocates
            return fn()

    if cancelled is None:
        return await anyio.to_thread.run_sync(run, limiter=limiter)

    async def watch() -> None:
        while not await request.is_disconnected():
            await anyio.sleep(0.05)
        cancelled.set()

    outcome: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        try:  # caught here: raised through the task group it would come out as a group
            outcome.append(await anyio.to_thread.run_sync(run, limiter=limiter))
        except Exception as exc:
            outcome.append(exc)
        tg.cancel_scope.cancel()
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    result: T = outcome[0]
    return result


def request_bytes(request: Request) -> int:
    """The body's size (its Content-Length), for cost estimates."""
    length = request.headers.get("content-length")
    return int(length) if length is not None and length.isdigit() else 0


def json_response(body: Any, status_code: int = 200) -> Response:
    """A JSON response written by orjson (arrays natively), skipping FastAPI's encoder."""
    return Response(dumps(body), status_code=status_code, media_type="application/json")


class _OrjsonRequest(Request):
    async def body(self) -> bytes:
        # Starlette joins the chunks at the end: one memcpy of the whole body holding the GIL
        # (~0.2 s for 200 MiB, the event loop stalled). A bytearray grows in place as chunks
        # come (large ones by mremap, no copy); every consumer here takes any buffer.
        if not hasattr(self, "_body"):
            buf = bytearray()
            timeout = self.app.state.settings.body_read_timeout_seconds
            try:
                # a client that stalls mid-body holds a connection, never more than this
                with anyio.fail_after(timeout):
                    async for chunk in self.stream():
                        buf += chunk
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"the request body did not arrive within {timeout} s "
                    "(GRADSERVE_BODY_READ_TIMEOUT_SECONDS)",
                    headers={"Connection": "close"},
                ) from None
            self._body = buf  # type: ignore[assignment]
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            limit = self.app.state.settings.max_json_values
            # a large body is checked and parsed on a worker thread: the event loop keeps serving
            self._json = (
                await anyio.to_thread.run_sync(parse_json, body, limit)
                if len(body) > 1 << 20
                else parse_json(body, limit)
            )
        return self._json


JSON_MEDIA_TYPES = ("application/json", "application/*+json")


def require_json_body(request: Request) -> None:
    """A body sent to a JSON route must say it is JSON: 415 otherwise (a body-less request is
    left to the route, where an optional body may be absent)."""
    headers = request.headers
    length = headers.get("content-length")
    if length is None and "transfer-encoding" not in headers:
        return
    if length is not None and length.strip() == "0":
        return
    given = headers.get("content-type")
    ctype = (given or "").split(";")[0].strip().lower()
    if ctype == "application/json" or (ctype.startswith("application/") and ctype[-5:] == "+json"):
        return
    sent = f"Content-Type {given!r}" if given else "no Content-Type"
    raise ApiError(
        415,
        "unsupported_media_type",
        f"this route takes a JSON body: send Content-Type: application/json (or another "
        f"application/*+json type); the request had {sent}",
        expected=list(JSON_MEDIA_TYPES),
    )


class HotRoute(NamedTuple):
    """A session route's fast path: its body model and what the route does with it; ``parse``
    (optional) reads a parsed JSON body quicker than the model (None: let the model decide)."""

    model: type[BaseModel]
    handle: Callable[[Request, Session, Any, Settings], Awaitable[Response]]
    parse: Callable[[Any], Any] | None = None


def hot_route(
    model: type[BaseModel],
    handle: Callable[[Request, Session, Any, Settings], Awaitable[Response]],
    parse: Callable[[Any], Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a declared session route (``POST /v1/sessions/{session_id}/...`` with a JSON
    body) a fast path: ``OrjsonRoute`` parses the body with orjson into ``model`` and opens
    the session itself, skipping FastAPI's dependency solving, then calls ``handle``.
    The FastAPI endpoint stays declared (OpenAPI, validation) and answers every request the
    fast path does not take: a body that is absent, not JSON or not valid, so each error
    is the one FastAPI gives.

    ``parse(data)`` (optional) takes the parsed JSON first and returns the body, or None for
    anything it does not accept as valid in every detail (the model then decides, and words
    the error): a lean check of a large body where a model per item would cost too much."""

    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        endpoint.hot_route = HotRoute(model, handle, parse)  # type: ignore[attr-defined]
        return endpoint

    return mark


async def _hot(request: _OrjsonRequest, hot: HotRoute) -> Response | None:
    """The fast path's answer, or None to leave the request to FastAPI's handler."""
    body = await request.body()  # cached: FastAPI's handler reads the same bytes
    if not body:
        return None
    try:
        data = await request.json()
        model = None if hot.parse is None else hot.parse(data)
        if model is None:
            model = hot.model.model_validate(data, from_attributes=True)
    except StarletteHTTPException:
        raise
    except Exception:  # not JSON, too deep, not the model: FastAPI words the error
        return None
    state = request.app.state
    session_id = request.path_params["session_id"]
    authorization = request.headers.get("authorization")
    # as get_session: held for the request, written back before the response goes out
    async with state.manager.open(session_id, authorization) as session:
        response = await hot.handle(request, session, model, state.settings)
    return response


class OrjsonRoute(APIRoute):
    """Parses JSON bodies with orjson (FastAPI's default is the stdlib parser); a route
    marked with ``hot_route`` takes its fast path first."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_json = self.body_field is not None
        hot: HotRoute | None = getattr(self.endpoint, "hot_route", None)

        async def route(request: Request) -> Response:
            if takes_json:
                require_json_body(request)
            req = _OrjsonRequest(request.scope, request.receive)
            if hot is not None:
                fast = await _hot(req, hot)
                if fast is not None:
                    return fast
            return await handler(req)

        return route
