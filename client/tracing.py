"""Tracing user Python into graph templates: a custom ``autograd.Function``'s backward and a
tensor hook's body, through the client.

User Python never runs on the server. The client runs the user's ``backward`` (or hook) once,
here, on stand-in tensors: each tensor op it makes is recorded into a template (graph nodes,
data) instead of the session's batch, and the server stores the template with the graph and
replays it during backward (docs/api.md, "Stored templates"). ``forward`` runs as ordinary
recorded ops with grad off; an ``autograd.function`` node then gives its outputs the
Function's ``<Name>Backward`` grad_fn.

What a template cannot express is refused when it is traced (at ``apply`` or
``register_hook``), naming the function and why: reading a stand-in's values (``.numpy()``,
``.item()``, ``.tolist()``, ``bool()``, ``print``, an ``if`` on a tensor) or changing a
session tensor in place. Python values the function reads (ctx attributes, numbers,
``ctx.needs_input_grad``) are constants of the template; session tensors it uses are
captured by reference.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from engine.ctx import CtxBase, FunctionBase
from engine.errors import InvalidArgumentError, LeafInplaceError

from .connection import Connection
from .tensor import FUNCTION_ERRORS, TRACER, GradFn, RemoteTensor, apply

__all__ = [
    "Function",
    "FunctionCtx",
    "RemovableHandle",
    "TraceError",
    "Tracer",
    "once_differentiable",
    "register_hook",
    "retain_grad",
]

FUNCTION, REGISTER_HOOK, REMOVE_HOOK, RETAIN_GRAD = (
    "autograd.function",
    "autograd.register_hook",
    "autograd.remove_hook",
    "autograd.retain_grad",
)


class TraceError(TypeError):
    """User Python that a graph template cannot express (it depends on tensor values)."""


_VALUES = (
    "reads the values of a tensor it was given (.numpy(), .item(), .tolist(), bool(), float(), "
    "print, or Python control flow such as `if` on a tensor). Through the gradserve client it "
    "runs on the server as a graph template of tensor ops, traced once here on stand-in "
    "tensors that have no values, so what it computes may not depend on values in Python: "
    "write the branch with tensor ops (torch.where, clamp, masks) instead "
    "(docs/client.md, 'Custom autograd.Function and hooks')"
)


class Tracer:
    """Stands in for the connection while user code is traced: ops on stand-ins (and on
    tensors made from them) are recorded as template nodes; session tensors they use become
    captures (extra template inputs)."""

    def __init__(self, conn: Connection, what: str) -> None:
        self.conn = conn
        self.what = what
        self.device = conn.device
        self.nodes: list[dict[str, Any]] = []
        self.inputs: list[str] = []
        self.captures: dict[str, str] = {}  # session name -> template input
        self.held: list[RemoteTensor] = []  # captured tensors stay alive until sent
        self.has_grad: dict[str, bool] = {}
        self.hazard = conn.hazard
        self.data_epoch = 0
        self.grad_gen = 0
        self.lost: dict[str, Exception] = {}
        self.tracing = False
        self._names = itertools.count()

    # the connection's surface that RemoteTensor and apply use
    @property
    def grad_enabled(self) -> bool:
        return self.conn.grad_enabled

    @grad_enabled.setter
    def grad_enabled(self, mode: bool) -> None:  # a Function applied inside traced code
        self.conn.grad_enabled = mode

    def new_name(self) -> str:
        return f"_b{next(self._names)}"

    def record(self, node: dict[str, Any]) -> None:
        if not self.conn.grad_enabled:
            node["no_grad"] = True
        self.nodes.append(node)

    def check(self, names: Any) -> None:
        pass

    def release(self, name: str) -> None:
        pass

    def _values(self, *_: Any, **__: Any) -> Any:
        if not self.tracing:  # a stand-in kept past tracing (appended to a list, say)
            raise TraceError(
                f"this tensor stood in for a value while {self.what} was traced: it has no "
                "values (through the gradserve client the traced code runs on the server, in "
                "backward; its tensors never reach Python)"
            )
        raise TraceError(f"{self.what} {_VALUES}")

    read = info = flush = call = backward = zero_grad = _values

    # tracing
    def stand_in(self, like: RemoteTensor, name: str) -> RemoteTensor:
        """A template input with ``like``'s shape and dtype (no values, no grad here)."""
        self.inputs.append(name)
        return RemoteTensor(self, name, tuple(like.shape), like.dtype, False, True)  # type: ignore[arg-type]

    def name_of(self, t: RemoteTensor) -> str:
        """``t`` as the template names it: its own name, or a capture of a session tensor."""
        if t._conn is self:
            return t.name
        if t._conn is not self.conn:
            raise TraceError(f"{self.what} uses a tensor of another session")
        name = self.captures.get(t.name)
        if name is None:
            name = self.captures[t.name] = f"_c{len(self.captures)}"
            self.held.append(t)
        return name

    def inplace(self, t: RemoteTensor) -> None:
        """An in-place op on a session tensor while tracing: refused."""
        raise TraceError(
            f"{self.what} changes a tensor in place that it did not make; a traced function "
            "may change in place only the tensors it computes"
        )

    @contextlib.contextmanager
    def active(self, grad: bool = True) -> Iterator[None]:
        token = TRACER.set(self)
        prev, self.conn.grad_enabled = self.conn.grad_enabled, grad
        self.tracing = True
        try:
            yield
        finally:
            self.tracing = False
            self.conn.grad_enabled = prev
            TRACER.reset(token)

    def template(self, outputs: list[str | None]) -> dict[str, Any]:
        return {
            "inputs": [*self.inputs, *self.captures.values()],
            "nodes": self.nodes,
            "outputs": outputs,
        }

    def output(self, r: Any, kind: str) -> str | None:
        if r is None:
            return None
        if isinstance(r, RemoteTensor):
            return self.name_of(r)
        raise TraceError(f"{self.what} returned {type(r).__name__} where {kind}")


# -------------------------------------------------------------- autograd.Function
class FunctionCtx(CtxBase):
    """``ctx`` through the client: while backward is traced, ``saved_tensors`` are stand-ins."""

    tensor_type = RemoteTensor

    def __init__(self) -> None:
        super().__init__()
        self._traced: tuple[Any, ...] | None = None

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        return self.to_save if self._traced is None else self._traced

    saved_variables = saved_tensors


class Function(FunctionBase):
    """``torch.autograd.Function`` through the client: ``forward`` runs as recorded ops,
    ``backward`` is traced into a template the server replays (module docstring)."""

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        tensors = [a for a in args if isinstance(a, RemoteTensor)]
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, RemoteTensor) and a.requires_grad for a in args)
        if not tensors:
            return _forward(cls, ctx, args, kwargs)
        conn = tensors[0]._conn
        grad = conn.grad_enabled
        conn.grad_enabled = False
        try:
            outputs = _forward(cls, ctx, args, kwargs)
        finally:
            conn.grad_enabled = grad
        record = grad and any(ctx.needs_input_grad)
        for t in ctx.dirty_tensors:
            if record and t.is_leaf and t.requires_grad:
                raise LeafInplaceError(
                    "a leaf Variable that requires grad is being used in an in-place operation."
                )
        if not record or not isinstance(conn, Connection):
            return outputs
        return _record(cls, ctx, conn, args, tensors, outputs)


def _forward(cls: Any, ctx: FunctionCtx, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if cls.setup_context is not Function.setup_context:
        out = cls.forward(*args, **kwargs)
        cls.setup_context(ctx, args, out)
        return out
    return cls.forward(ctx, *args, **kwargs)


def _record(
    cls: Any,
    ctx: FunctionCtx,
    conn: Connection,
    args: tuple[Any, ...],
    tensors: list[RemoteTensor],
    outputs: Any,
) -> Any:
    """Trace ``backward``, record the ``autograd.function`` node, mark the outputs."""
    name = cls.__name__
    is_tuple = isinstance(outputs, tuple)
    outs = list(outputs) if is_tuple else [outputs]
    dirty = {id(t) for t in ctx.dirty_tensors}
    ins = {id(t) for t in tensors}
    if not dirty <= {id(o) for o in outs}:
        raise RuntimeError(
            "Some elements marked as dirty during the forward method were not returned as "
            "output. The inputs that are modified inplace must all be outputs of the Function."
        )
    seen: set[int] = set()
    for k, o in enumerate(outs):
        if not isinstance(o, RemoteTensor):
            raise TraceError(
                f"{name}.forward returned {type(o).__name__}; through the gradserve client a "
                "recorded Function returns tensors only"
            )
        # an input returned as is, or a tensor returned twice: a new tensor on its values
        if (id(o) in ins and id(o) not in dirty) or id(o) in seen:
            with _grad_off(conn):
                outs[k] = apply(conn, "detach", [o], {})
        seen.add(id(outs[k]))
    tracer = Tracer(conn, f"{name}.backward")
    grads = [tracer.stand_in(o, f"_g{k}") for k, o in enumerate(outs)]
    saved = [None if s is None else tracer.stand_in(s, f"_s{i}") for i, s in enumerate(ctx.to_save)]
    ctx._traced = tuple(saved)
    error: str | None = None
    try:
        with tracer.active():
            result = cls.backward(ctx, *grads)
    except TraceError:
        raise
    except Exception as exc:  # torch raises it from backward(): so does the server's node
        error = f"e{next(_error_ids)}"
        FUNCTION_ERRORS[error] = exc
        while len(FUNCTION_ERRORS) > _MAX_ERRORS:
            FUNCTION_ERRORS.popitem(last=False)
        tracer.nodes.clear()
        result = (None,) * len(args)
    finally:
        ctx._traced = None
    result = result if isinstance(result, tuple) else (result,)
    wire_out = [tracer.output(r, "a gradient (a Tensor or None) was expected") for r in result]
    non_diff = {id(t) for t in ctx.non_differentiable_tensors}
    node = {
        "name": None,
        "op": FUNCTION,
        "args": [
            a.name if isinstance(a, RemoteTensor) else a if isinstance(a, int | float) else None
            for a in args
        ],
        "kwargs": {
            "class": name,
            "outputs": [o.name for o in outs],
            "saved": [None if s is None else s.name for s in ctx.to_save],
            "dirty": [t.name for t in ctx.dirty_tensors],
            "non_differentiable": [o.name for o in outs if id(o) in non_diff],
            "captures": list(tracer.captures),
            "backward": tracer.template(wire_out),
            **({} if error is None else {"error": error}),
        },
    }
    conn.record(node)
    # the local model cannot know which leaves the template's gradients reach (it may return
    # None), nor whether it fails: a backward from here asks the server, and is sent at once
    # so that its error (a wrong gradient shape or count) is raised at the call, as torch's
    for o in outs:
        if id(o) in non_diff or not o.dtype.is_floating_point:
            continue
        o._rg, o._leaf, o._grad_fn = True, False, GradFn(f"{name}Backward")
        o._reach, o._since = None, None
        o._value = None
    del tracer
    return tuple(outs) if is_tuple else outs[0]


@contextlib.contextmanager
def _grad_off(conn: Connection) -> Iterator[None]:
    prev, conn.grad_enabled = conn.grad_enabled, False
    try:
        yield
    finally:
        conn.grad_enabled = prev


def once_differentiable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``backward`` traced with grad off: its result is not differentiable again."""

    @functools.wraps(fn)
    def wrapper(ctx: Any, *args: Any) -> Any:
        tracer = TRACER.get()
        if tracer is None:
            return fn(ctx, *args)
        with _grad_off(tracer.conn):
            return fn(ctx, *args)

    return wrapper


# ------------------------------------------------------------------------ hooks
class RemovableHandle:
    """What ``register_hook`` returns: ``remove()`` unregisters the hook (a node)."""

    def __init__(self, t: RemoteTensor, hook_id: str) -> None:
        self._tensor = weakref.ref(t)
        self.id = hook_id
        self._removed = False

    def remove(self) -> None:
        t = self._tensor()
        if t is None or self._removed:
            return
        self._removed = True
        t._conn.record(
            {"name": None, "op": REMOVE_HOOK, "args": [t.name], "kwargs": {"id": self.id}}
        )

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


_hook_ids = itertools.count()
_error_ids = itertools.count()
_MAX_ERRORS = 1024


def register_hook(t: RemoteTensor, hook: Callable[[Any], Any]) -> RemovableHandle:
    """``Tensor.register_hook``: the hook is traced on a stand-in gradient into a template."""
    if not t.requires_grad:
        raise InvalidArgumentError(
            "cannot register a hook on a tensor that doesn't require gradient"
        )
    conn = t._conn
    label = getattr(hook, "__qualname__", None) or type(hook).__name__
    tracer = Tracer(conn, f"the hook {label}")
    g = tracer.stand_in(t, "_g")
    with tracer.active():
        out = hook(g)
    wire_out = tracer.output(out, "a hook returns a Tensor or None")
    hid = f"h{next(_hook_ids)}"
    conn.record(
        {
            "name": None,
            "op": REGISTER_HOOK,
            "args": [t.name],
            "kwargs": {
                "id": hid,
                "captures": list(tracer.captures),
                "hook": tracer.template([wire_out]),
            },
        }
    )
    return RemovableHandle(t, hid)


def retain_grad(t: RemoteTensor) -> None:
    """``Tensor.retain_grad``: a non-leaf keeps its ``.grad`` (a leaf already does)."""
    if t.is_leaf or t._retains:
        return
    t._conn.record({"name": None, "op": RETAIN_GRAD, "args": [t.name], "kwargs": {}})
    t._retains = True


# RemoteTensor's methods (tensor.py cannot import this module: it builds on tensor.py)
RemoteTensor.register_hook = register_hook
RemoteTensor.retain_grad = retain_grad
