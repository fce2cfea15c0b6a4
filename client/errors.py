"""Server problems as Python exceptions carrying ``code``, ``status`` and ``detail``.

A problem whose PyTorch counterpart raises RuntimeError (or IndexError, ...)
becomes a subclass of that builtin, so code written for torch catches it::

    ServerError
    ├── RemoteRuntimeError (RuntimeError)   graph_freed, modified_inplace, shape_mismatch, ...
    │   ├── RemoteIndexError (IndexError)   index or target out of bounds
    │   └── LimitError                      payload_too_large, tensor_too_large, ...
    ├── UnknownNameError (NameError)        unknown_name
    └── AuthError                           unauthorized, session_not_found
    SessionClosedError (RuntimeError)       a call after ``close()``

Errors found locally (a shape mismatch, an index out of range, an in-place op on a
leaf that requires grad) are the engine's own exceptions, raised at the call with
PyTorch's message; they carry ``code`` and ``status`` as well.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "AuthError",
    "LimitError",
    "RemoteIndexError",
    "RemoteRuntimeError",
    "ServerError",
    "SessionClosedError",
    "ServerUnreachableError",
    "UnknownNameError",
    "error_from_problem",
    "lost_tensor_error",
]


class ServerUnreachableError(httpx.ConnectError, ConnectionError):
    """No gradserve server answers at the URL (refused, unknown host, ...): the message says
    where; it is still the ``httpx.ConnectError`` (and a ``ConnectionError``) it comes from."""


class ServerError(Exception):
    """A problem+json answer from the server."""

    def __init__(self, detail: str, code: str, status: int, problem: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.status = status
        self.problem = problem or {}
        self.site: str | None = None  # a deferred op's call site: "file:line, in function"


class RemoteRuntimeError(ServerError, RuntimeError):
    pass


class RemoteIndexError(RemoteRuntimeError, IndexError):
    pass


class UnknownNameError(ServerError, NameError):
    pass


class AuthError(ServerError):
    pass


class LimitError(RemoteRuntimeError):
    pass


class SessionClosedError(RuntimeError):
    """The session was closed (``torch.close()`` or the end of a ``with`` block)."""


_RUNTIME = {
    "invalid_argument",
    "shape_mismatch",
    "dtype_mismatch",
    "not_leaf",
    "leaf_inplace",
    "grad_requires_scalar",
    "does_not_require_grad",
    "backend_unavailable",
    "graph_freed",
    "modified_inplace",
    "unknown_op",
}
_LIMITS = {
    "payload_too_large",
    "tensor_too_large",
    "graph_too_large",
    "too_many_sessions",
    "session_quota_exceeded",
}


def error_from_problem(status: int, problem: dict[str, Any]) -> ServerError:
    """The exception for a problem+json body."""
    code = str(problem.get("code", "http_error"))
    detail = str(problem.get("detail", f"HTTP {status}"))
    cls: type[ServerError]
    if code in _RUNTIME:
        indexing = "out of bounds" in detail or "too many indices" in detail
        cls = RemoteIndexError if indexing else RemoteRuntimeError
    elif code == "unknown_name":
        cls = UnknownNameError
    elif code in ("unauthorized", "session_not_found"):
        cls = AuthError
    elif code in _LIMITS:
        cls = LimitError
    else:
        cls = ServerError
    return cls(detail, code, status, problem)


_LOST = "this tensor was never computed: the request that computed it failed: "


def lost_tensor_error(why: BaseException) -> Exception:
    """The error for using a tensor whose batch failed: the batch's own error, restated.

    Always a new exception (no traceback, so no frames and tensors kept alive).
    """
    if isinstance(why, ServerError):
        detail = why.detail if why.detail.startswith(_LOST) else _LOST + why.detail
        return type(why)(detail, why.code, why.status, why.problem)
    text = str(why) or type(why).__name__
    return RuntimeError(text if text.startswith(_LOST) else _LOST + text)
