"""Server problems as Python exceptions carrying ``code``, ``status`` and ``detail``.

A problem whose PyTorch counterpart raises RuntimeError (or IndexError, ...)
becomes a subclass of that builtin, so code written for torch catches it::

    ServerError
    ├── RemoteRuntimeError (RuntimeError)   graph_freed, modified_inplace, shape_mismatch, ...
    ├── RemoteIndexError (IndexError)       index out of range
    ├── UnknownNameError (NameError)        unknown_name
    ├── AuthError                           unauthorized, session_not_found
    └── LimitError                          payload_too_large, tensor_too_large, ...
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "LimitError",
    "RemoteIndexError",
    "RemoteRuntimeError",
    "ServerError",
    "UnknownNameError",
    "error_from_problem",
]


class ServerError(Exception):
    """A problem+json answer from the server."""

    def __init__(self, detail: str, code: str, status: int, problem: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.status = status
        self.problem = problem or {}


class RemoteRuntimeError(ServerError, RuntimeError):
    pass


class RemoteIndexError(ServerError, IndexError):
    pass


class UnknownNameError(ServerError, NameError):
    pass


class AuthError(ServerError):
    pass


class LimitError(ServerError):
    pass


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
        cls = (
            RemoteIndexError
            if "out of bounds" in detail or "too many indices" in detail
            else (RemoteRuntimeError)
        )
    elif code == "unknown_name":
        cls = UnknownNameError
    elif code in ("unauthorized", "session_not_found"):
        cls = AuthError
    elif code in _LIMITS:
        cls = LimitError
    else:
        cls = ServerError
    return cls(detail, code, status, problem)
