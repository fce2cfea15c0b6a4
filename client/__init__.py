"""The gradserve Python client: PyTorch autograd code runs against a server.

from client import connect

with connect("http://127.0.0.1:8000") as torch:   # a session, deleted at the end
    x = torch.ones(2, 2, requires_grad=True)
    out = ((x + 2) * (x + 2) * 3).mean()
    out.backward()
    print(x.grad)

Modules: ``namespace`` (``connect`` and the torch-like namespace), ``tensor``
(``RemoteTensor``), ``connection`` (HTTP, the pending batch, frees, caches),
``inference`` (local shapes and dtypes), ``errors``.
"""

from __future__ import annotations

from .errors import (
    AuthError,
    LimitError,
    RemoteIndexError,
    RemoteRuntimeError,
    ServerError,
    ServerUnreachableError,
    SessionClosedError,
    UnknownNameError,
)
from .namespace import OpTableMismatchError, RemoteTorch, connect
from .tensor import GradFn, RemoteTensor
from .tracing import TraceError

__all__ = [
    "AuthError",
    "GradFn",
    "LimitError",
    "OpTableMismatchError",
    "RemoteIndexError",
    "RemoteRuntimeError",
    "RemoteTensor",
    "RemoteTorch",
    "ServerError",
    "ServerUnreachableError",
    "SessionClosedError",
    "TraceError",
    "UnknownNameError",
    "connect",
]
