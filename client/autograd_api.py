"""The client's ``torch.autograd`` (grad, backward, functional, Function), its default dtype,
and NotImplementedError for the torch names it lacks.

User Python never runs on the server. ``autograd.functional`` runs the user's function here,
in the user's process (only its tensor ops reach the server), so it is the engine's own
implementation over this namespace. A custom ``autograd.Function``'s backward (and a tensor
hook) runs during the server's backward: the client traces it into a graph template
(``client.tracing``). ``autograd.profiler`` times the ops on the server (``client.profiler``).
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any, NoReturn

from engine import dtypes as D
from engine.transforms import Functional
from engine.unsupported import SUPPORTED_HINT, Unsupported, missing

from .profiler import RemoteProfile, RemoteRecordFunction
from .tracing import Function, once_differentiable

__all__ = [
    "Function",
    "Namespace",
    "autograd_namespace",
    "not_through_client",
    "once_differentiable",
]


def not_through_client(what: str, why: str) -> NoReturn:
    raise Unsupported(f"{what} is not supported through the gradserve client: {why}")


class Namespace(SimpleNamespace):
    """A torch sub-namespace (``nn.functional``, ``autograd``): a torch name it lacks raises
    NotImplementedError naming it."""

    def __init__(self, space: str, **members: Any) -> None:
        super().__init__(**members)
        object.__setattr__(self, "_space", space)

    def __getattr__(self, name: str) -> Any:
        missing(self._space, name, f"client namespace torch.{self._space}")


class _DefaultDtype:
    """The namespace's default float dtype (torch's is process-wide; a client's is its own)."""

    def __init__(self) -> None:
        self.dtype = D.float32

    def get(self) -> D.DType:
        return self.dtype

    def set(self, d: Any) -> None:
        dt = D.as_dtype(d)
        if dt not in (D.float32, D.float64):
            raise TypeError("only floating-point types are supported as the default type")
        self.dtype = dt

    def for_fill(self, fill: str, dtype: Any, extra: dict[str, Any]) -> Any:
        """The dtype a factory call with no dtype gets: the default for a float result."""
        if dtype is not None or self.dtype is D.float32:
            return dtype
        if fill == "arange":
            if any(isinstance(extra.get(k), float) for k in ("start", "end", "step")):
                return self.dtype
            return None
        if fill == "full":
            v = extra.get("fill_value")
            return self.dtype if isinstance(v, float) else None
        return self.dtype


def autograd_namespace(ns: Any) -> Namespace:
    """``torch.autograd`` of a RemoteTorch ``ns``."""
    return Namespace(
        "autograd",
        grad=ns._grad,
        backward=ns._backward,
        functional=Functional(ns),
        Function=Function,
        function=SimpleNamespace(Function=Function, once_differentiable=once_differentiable),
        profiler=SimpleNamespace(
            profile=partial(RemoteProfile, ns._conn),
            record_function=partial(RemoteRecordFunction, ns._conn),
        ),
    )


__all__ += ["SUPPORTED_HINT", "Unsupported"]
