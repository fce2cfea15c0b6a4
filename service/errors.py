"""Problem details (RFC 9457) for every non-2xx answer, and the one mapping from exceptions.

ApiError                 an error the service raises itself (status, code, detail)
engine.EngineError       carries its own code and status (docs/api.md)
RequestValidationError   422 validation_error
StarletteHTTPException   404 / 405 / ... from routing, mapped to codes
redis.RedisError         503 store_unavailable with Retry-After (the store is down)
anything else            500 internal_error, logged with its traceback and request id
"""

from __future__ import annotations

import logging
import traceback
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from engine.errors import EngineError

__all__ = ["ApiError", "install_error_handlers", "problem_response"]

log = logging.getLogger("gradserve.errors")

PROBLEM_TYPE = "https://gradserve.dev/problems/"
_HTTP_CODES = {
    400: "invalid_argument",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "body_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_sessions",
}


class ApiError(Exception):
    """A client-facing error with a stable code."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers
        self.extra = extra  # more members of the problem body (node, errors, ...)


def problem_response(
    status: int,
    code: str,
    detail: str,
    request: Request | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """An ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    rid = getattr(request.state, "request_id", None) if request is not None else None
    if rid is not None:
        body["request_id"] = rid
    headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error")
            return "the request body is not valid JSON" + (f": {reason}" if reason else "")
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request does not match the schema"


MAX_LOGGED_TRACEBACK = 16_384  # characters: a RecursionError's traceback is ~200 KB


def capped_traceback(exc: BaseException, limit: int = MAX_LOGGED_TRACEBACK) -> str:
    """The traceback as text, its middle cut out past ``limit`` characters (the first frames
    say where the request entered, the last ones where it failed)."""
    text = "".join(traceback.format_exception(exc))
    if len(text) <= limit:
        return text
    head, tail = limit // 4, limit - limit // 4
    return f"{text[:head]}\n... {len(text) - limit} characters cut ...\n{text[-tail:]}"


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through problem_response."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return problem_response(
            exc.status, exc.code, exc.detail, request, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(EngineError)
    async def _engine_error(request: Request, exc: EngineError) -> Response:
        node = getattr(exc, "node", None)
        return problem_response(exc.status, exc.code, exc.detail, request, node=node)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()[:20]
        ]
        return problem_response(
            422, "validation_error", _validation_detail(exc), request, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        response = problem_response(exc.status_code, code, detail, request)
        if exc.headers:  # e.g. the Allow header a 405 must carry (RFC 9110)
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RedisError)
    async def _store_unavailable(request: Request, exc: RedisError) -> Response:
        # an outage of the store, not a bug: the client retries; the connection stays open
        rid = getattr(request.state, "request_id", None)
        log.warning("session store unavailable (request %s): %r", rid, exc)
        return problem_response(
            503,
            "store_unavailable",
            "the session store is unavailable; retry shortly",
            request,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        rid = getattr(request.state, "request_id", None)
        log.error("unhandled error (request %s)\n%s", rid, capped_traceback(exc))
        return problem_response(
            500, "internal_error", f"internal server error; request id {rid}", request
        )
