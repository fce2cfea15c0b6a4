"""Stored templates: a custom ``autograd.Function`` and tensor hooks as graph nodes.

A client traces user Python (a Function's ``backward``, a hook's body) on stand-in tensors
into a graph template; these node kinds store it with the graph as data, and backward replays
it with the executor's node runner. No user code ever runs here (docs/api.md, "Stored
templates").

- ``autograd.function``: ``args`` are ``apply``'s arguments; the tensors ``forward`` returned
  (computed by earlier nodes without grad) get a ``<class>Backward`` grad_fn in place, whose
  VJP replays the ``backward`` template on the gradients, the saved tensors and the captures.
  The engine's ``autograd.Function`` does the rest (saved-value checks, ``mark_dirty``,
  ``mark_non_differentiable``, several outputs, double backward).
- ``autograd.register_hook`` / ``autograd.remove_hook``: ``Tensor.register_hook`` with a
  template as the hook, and ``handle.remove()``.
- ``autograd.retain_grad``: ``Tensor.retain_grad()``.

Templates are checked strictly when the node runs: known ops only (no node kinds, no
``grad_of``), names bound before use (so no cycles), in place only on the template's own
tensors, outputs bound, and every template's nodes count against the request's node limit.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

import engine
from api_schema.templates import FunctionKwargs, HookKwargs, StoredTemplate
from engine.autograd_function import Function
from engine.meta import INDEXED_OPS
from engine.ops import wire_ops
from engine.tensor import Tensor

from .errors import ApiError

if TYPE_CHECKING:
    from .executor import Executor

__all__ = [
    "FUNCTION",
    "KINDS",
    "REGISTER_HOOK",
    "REMOVE_HOOK",
    "RETAIN_GRAD",
    "Loader",
    "run_kind",
    "stored_nodes",
]

FUNCTION = "autograd.function"
REGISTER_HOOK = "autograd.register_hook"
REMOVE_HOOK = "autograd.remove_hook"
RETAIN_GRAD = "autograd.retain_grad"
KINDS = (FUNCTION, REGISTER_HOOK, REMOVE_HOOK, RETAIN_GRAD)
_KINDS = frozenset(KINDS)
_WIRE_OPS = wire_ops()  # the executor's (WIRE_OPS): a template may use these, less grad_of

# per tensor (by id, held weakly: tensors compare elementwise): its hooks registered over the
# wire, by the client's id
_HOOKS: dict[int, tuple[weakref.ref[Tensor], dict[str, Any]]] = {}


def _hooks_of(t: Tensor) -> dict[str, Any]:
    key = id(t)
    entry = _HOOKS.get(key)
    if entry is None or entry[0]() is not t:

        def gone(_: Any, key: int = key) -> None:
            cur = _HOOKS.get(key)
            if cur is not None and cur[0]() is None:
                del _HOOKS[key]

        entry = _HOOKS[key] = (weakref.ref(t, gone), {})
    return entry[1]


def _bad(detail: str) -> ApiError:
    return ApiError(400, "invalid_argument", detail)


def _names_in(a: Any) -> Iterator[Any]:
    if isinstance(a, str):
        yield a
    elif isinstance(a, list):
        for x in a:
            yield from _names_in(x)


def stored_nodes(nodes: list[Any]) -> int:
    """How many template nodes the graph nodes carry (they count against the request's node
    limit, as a functional request's template does). Every store keeps them: a session
    store that serializes the graph stores each template as data (``Loader``)."""
    count = 0
    for node in nodes:
        if node.op not in _KINDS:  # the usual case: one set lookup per node
            continue
        key = _BODY.get(node.op)
        if key is not None:
            body = node.kwargs.get(key)
            inner = body.get("nodes") if isinstance(body, dict) else None
            count += len(inner) if isinstance(inner, list) else 0
    return count


_BODY = {FUNCTION: "backward", REGISTER_HOOK: "hook"}


def check_template(t: StoredTemplate, n_inputs: int, what: str) -> None:
    """Refuse what replay could not run: the wrong arity, unknown ops or names, in place on
    the template's inputs, unbound outputs."""
    if len(t.inputs) != n_inputs:
        raise _bad(f"{what}: the template takes {len(t.inputs)} inputs, {n_inputs} expected")
    if len(set(t.inputs)) != len(t.inputs):
        raise _bad(f"{what}: the template's inputs repeat a name")
    bound = set(t.inputs)
    own: set[str] = set()
    for i, node in enumerate(t.nodes):
        where = f"{what}, template node {i}"
        entry = _WIRE_OPS.get(node.op)
        if entry is None or node.op == "grad_of":
            raise ApiError(
                400,
                "unknown_op",
                f"{where}: op {node.op!r} cannot be in a template; GET /v1/ops lists the ops "
                "(not grad_of, nor node kinds)",
            )
        names = list(_names_in(node.args))
        if node.op in INDEXED_OPS:
            names += [n for n in _names_in(node.kwargs.get("index")) if n != "..."]
        for name in names:
            if name not in bound:
                raise ApiError(
                    400,
                    "unknown_name",
                    f"{where}: name {name!r} is not bound before it (a template names only "
                    "its inputs and earlier nodes)",
                )
        if entry[1] and not (node.args and node.args[0] in own):
            raise _bad(f"{where}: {node.op} may change in place only the template's own tensors")
        if node.name is not None:
            bound.add(node.name)
            own.add(node.name)
    for out in t.outputs:
        if out is not None and out not in bound:
            raise ApiError(400, "unknown_name", f"{what}: output {out!r} is not bound")


def replay(
    t: StoredTemplate, values: list[Tensor | None], runner: Callable[..., Executor], what: str
) -> list[Tensor | None]:
    """Run the template's nodes on ``values`` with a new node runner (``runner(names)``);
    its outputs (None for ``null``)."""
    names = {n: v for n, v in zip(t.inputs, values, strict=True) if v is not None}
    ex = runner(names)
    try:  # in backward's grad mode: recorded only under create_graph
        ex.run(t.nodes, no_grad=not engine.is_grad_enabled())
    except ApiError as exc:
        node = exc.extra.pop("node", None)
        raise ApiError(
            exc.status, exc.code, f"{what} (template node {node}): {exc.detail}"
        ) from None
    return [None if o is None else ex.lookup(o) for o in t.outputs]


def _parse(model: Any, kwargs: dict[str, Any], kind: str) -> Any:
    try:
        return model.model_validate(kwargs)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise _bad(f"{kind}: kwargs.{loc}: {first['msg']}") from None


# ------------------------------------------------------------------ node kinds
def run_kind(ex: Executor, kind: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Run one node of a stored-template kind (binds no name)."""
    if kind == FUNCTION:
        _function(ex, args, _parse(FunctionKwargs, kwargs, kind))
        return
    if len(args) != 1:
        raise _bad(f"{kind} takes one tensor")
    t = ex.lookup(args[0])
    if kind == RETAIN_GRAD:
        if kwargs:
            raise _bad(f"{kind} takes no kwargs")
        t.retain_grad()
    elif kind == REGISTER_HOOK:
        _register_hook(ex, t, _parse(HookKwargs, kwargs, kind))
    else:
        hid = kwargs.get("id")
        if set(kwargs) != {"id"} or not isinstance(hid, str):
            raise _bad(f'{kind} takes kwargs {{"id": name}}')
        _remove_hook(ex, t, hid)


class _Hook:
    """A hook registered over the wire: its template, replayed on each gradient."""

    def __init__(
        self, hid: str, template: StoredTemplate, captures: list[Tensor], limits: _Limits
    ) -> None:
        self.id = hid
        self.template = template
        self.captures = captures
        self.limits = limits
        self.runner = limits.runner()
        self.handle: Any = None
        self._data: dict[str, Any] | None = None

    def __call__(self, grad: Tensor) -> Tensor | None:
        (out,) = replay(self.template, [grad, *self.captures], self.runner, "a tensor hook")
        return out

    def stored_form(self) -> tuple[dict[str, Any], list[Tensor]]:
        """The hook as data for a store (engine.serialize): ``Loader.hook`` rebuilds it."""
        if self._data is None:
            self._data = {
                "id": self.id,
                "hook": _template_data(self.template),
                **self.limits.data(),
            }
        return self._data, self.captures


class _Limits:
    """What a replay's executors are made with: the executor class, the request's element
    limit and backend (the last two are stored with a template)."""

    __slots__ = ("make", "max_elements", "xp")

    def __init__(self, make: type[Executor], max_elements: int, xp: Any) -> None:
        self.make, self.max_elements, self.xp = make, max_elements, xp

    def runner(self) -> Callable[..., Executor]:
        """New executors with these limits over other names."""
        make, max_elements, xp = self.make, self.max_elements, self.xp
        return lambda names: make(names, max_elements, xp)

    def data(self) -> dict[str, Any]:
        return {"max_elements": self.max_elements, "backend": self.xp.__name__.split(".")[0]}


def _limits(ex: Executor) -> _Limits:
    return _Limits(type(ex), ex.max_elements, ex.xp)


def _template_data(t: StoredTemplate) -> dict[str, Any]:
    data: dict[str, Any] = t.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return data


def _register_hook(ex: Executor, t: Tensor, kw: HookKwargs) -> None:
    what = f"hook {kw.id!r}"
    check_template(kw.hook, 1 + len(kw.captures), what)
    if len(kw.hook.outputs) != 1:
        raise _bad(f"{what}: a hook returns one tensor or null")
    if kw.id in _hooks_of(t):
        raise _bad(f"{what} is already registered on this tensor")
    hook = _Hook(kw.id, kw.hook, [ex.lookup(n) for n in kw.captures], _limits(ex))
    hook.handle = t.register_hook(hook)
    _hooks_of(t)[kw.id] = hook
    ex.on_rollback(lambda: _unregister(t, kw.id))


def _unregister(t: Tensor, hid: str) -> None:
    hook = _hooks_of(t).pop(hid, None)
    if hook is not None:
        hook.handle.remove()


def _remove_hook(ex: Executor, t: Tensor, hid: str) -> None:
    hook = _hooks_of(t).get(hid)
    if hook is None:  # torch's handle.remove() of a removed hook does nothing
        return
    _unregister(t, hid)

    def again() -> None:  # undo: register it once more
        hook.handle = t.register_hook(hook)
        _hooks_of(t)[hid] = hook

    ex.on_rollback(again)


def _function(ex: Executor, args: list[Any], kw: FunctionKwargs) -> None:
    what = f"{kw.cls}Backward"
    n_out, n_saved = len(kw.outputs), len(kw.saved)
    check_template(kw.backward, n_out + n_saved + len(kw.captures), what)
    inputs = [ex.arg(a) for a in args]
    outs = [ex.lookup(n) for n in kw.outputs]
    saved = [None if n is None else ex.lookup(n) for n in kw.saved]
    dirty = [ex.lookup(n) for n in kw.dirty]
    non_diff = [ex.lookup(n) for n in kw.non_differentiable]
    captures = [ex.lookup(n) for n in kw.captures]
    ins = {id(a) for a in inputs if isinstance(a, Tensor)}
    out_ids = {id(o) for o in outs}
    if len(out_ids) != len(outs):
        raise _bad(f"{kw.cls}: an output is named twice")
    for t in dirty:
        if id(t) not in ins or id(t) not in out_ids:
            raise _bad(f"{kw.cls}: a tensor marked dirty must be an input that is returned")
    for o in outs:
        if id(o) in ins and all(o is not d for d in dirty):
            raise _bad(
                f"{kw.cls}: an input returned as an output must be marked dirty (else return "
                "a copy: the client's detach)"
            )
    for t in non_diff:
        if id(t) not in out_ids:
            raise _bad(f"{kw.cls}: mark_non_differentiable takes outputs only")

    def forward(ctx: Any, *_: Any) -> Any:
        ctx.save_for_backward(*saved)
        if dirty:
            ctx.mark_dirty(*dirty)
        if non_diff:
            ctx.mark_non_differentiable(*non_diff)
        return tuple(outs) if len(outs) > 1 else outs[0]

    cls = _function_class(kw.cls, kw.backward, kw.error, captures, _limits(ex), forward)
    for o in outs:
        ex.keep(o)  # grad_fn and requires_grad change in place: undone on failure
    cls.apply(*inputs)


def _function_class(
    name: str,
    template: StoredTemplate,
    error: str | None,
    captures: list[Tensor],
    limits: _Limits,
    forward: Callable[..., Any] | None = None,
) -> Any:
    """The Function class whose backward replays ``template`` (a loaded one has no
    forward: its node exists already). ``stored_form`` is what a store keeps of it."""
    what = f"{name}Backward"
    runner = limits.runner()

    def backward(ctx: Any, *grads: Any) -> Any:
        if error is not None:  # the user's backward raised while the client traced it
            raise ApiError(
                400,
                "invalid_argument",
                f"{what}: the Function's backward raised an exception when the client traced "
                "it (the client raises it)",
                function_error=error,
            )
        values = [*grads, *ctx.saved_tensors, *captures]
        return tuple(replay(template, values, runner, what))

    data: list[dict[str, Any]] = []

    def stored_form() -> tuple[dict[str, Any], list[Tensor]]:
        if not data:
            data.append(
                {
                    "class": name,
                    "backward": _template_data(template),
                    "error": error,
                    **limits.data(),
                }
            )
        return data[0], captures

    ns: dict[str, Any] = {"backward": staticmethod(backward), "stored_form": stored_form}
    if forward is not None:
        ns["forward"] = staticmethod(forward)
    return type(name, (Function,), ns)


class Loader:
    """Rebuilds stored Functions and hooks from their data (engine.serialize's
    ``TemplateLoader``), through the code that builds them from a request; their replays run
    on ``make`` executors (the executor imports this module: its class is passed in)."""

    def __init__(self, make: type[Executor]) -> None:
        self.make = make

    def _limits(self, data: dict[str, Any]) -> _Limits:
        xp = engine.get_backend(data["backend"]).xp
        return _Limits(self.make, int(data["max_elements"]), xp)

    def function(self, data: Any, captures: list[Tensor]) -> type[Any]:
        template = StoredTemplate.model_validate(data["backward"])
        cls: type[Any] = _function_class(
            data["class"], template, data["error"], captures, self._limits(data)
        )
        return cls

    def hook(
        self, t: Tensor, data: Any, captures: list[Tensor], register: Callable[[Any], Any]
    ) -> None:
        template = StoredTemplate.model_validate(data["hook"])
        hook = _Hook(data["id"], template, captures, self._limits(data))
        hook.handle = register(hook)
        _hooks_of(t)[hook.id] = hook
