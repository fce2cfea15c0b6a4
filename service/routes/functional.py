"""POST /v1/sessions/{id}/functional and /v1/functional: ``torch.autograd.functional``.

The function is a graph template (data, never code): each call of it replays the template's
nodes with the executor's node runner over the transform's prepared inputs, and
``engine.autograd_functional`` does the rest. Every op of every replay and of every gradient
the transform takes is checked by the request's guard (bytes before each op allocates, the
deadline and the client between ops), as graph requests are.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

import engine
from api_schema import Problem
from api_schema.functional import (
    FUNCTIONAL_FNS,
    FunctionalBind,
    FunctionalRequest,
    FunctionalResponse,
    FunctionTemplate,
    StatelessFunctionalRequest,
)
from engine.autograd_functional import Functional
from engine.state import budget, footprint, from_array
from engine.tensor import Tensor

from ..budget import Guard, ServerBudget, guard_for, weigh
from ..codecs import decode_tensor_data
from ..deps import ApiKeyDep, OrjsonRoute, SessionDep, SettingsDep, compute, json_response
from ..errors import ApiError
from ..executor import WIRE_OPS, Executor
from ..sessions import Session, commit
from ..settings import Settings
from ..templates import stored_nodes
from ..views import tensor_info

router = APIRouter(tags=["gradients"], route_class=OrjsonRoute)

Result = tuple[list[Tensor] | None, list[Tensor] | list[list[Tensor]]]


def _check(fn: str, template: FunctionTemplate, n_inputs: int, settings: Settings) -> None:
    """What can be refused before anything runs."""
    if fn not in FUNCTIONAL_FNS:
        raise ApiError(
            400,
            "invalid_argument",
            f"unknown fn {fn!r}; one of: {', '.join(FUNCTIONAL_FNS)}",
        )
    count = len(template.nodes) + stored_nodes(template.nodes)
    if count > settings.max_nodes_per_request:
        raise ApiError(
            413,
            "graph_too_large",
            f"{count} nodes is above the limit of {settings.max_nodes_per_request}",
        )
    if n_inputs != len(template.inputs):
        raise ApiError(
            400,
            "invalid_argument",
            f"the template takes {len(template.inputs)} inputs, the request gives {n_inputs}",
        )
    # the function is pure: in place only on its own tensors, never on a session's
    own = set(template.inputs)
    for i, node in enumerate(template.nodes):
        target = node.args[0] if node.args else None
        entry = WIRE_OPS.get(node.op)
        inplace = entry is not None and entry[1]
        if inplace and not (isinstance(target, str) and target in own):
            raise ApiError(
                400,
                "invalid_argument",
                f"{node.op}: a template may change in place only its own tensors (its inputs "
                "and earlier nodes)",
                node=i,
            )
        if node.name is not None:
            own.add(node.name)


def _value(value: Any, limit: int, xp: Any) -> Tensor:
    """TensorData as a tensor; integers with no dtype named are the default float (JSON
    cannot tell 1 from 1.0, and every input and ``v`` of a transform is differentiated)."""
    arr = decode_tensor_data(value, limit)
    if arr.dtype.kind in "iub" and getattr(value, "dtype", None) is None:
        arr = decode_tensor_data(value, limit, engine.dtypes.default_float().name)
    return from_array(xp.asarray(arr))


def _function(
    template: FunctionTemplate,
    closure: dict[str, Tensor],
    limit: int,
    xp: Any,
    guard: Guard,
    held: list[weakref.ref[Tensor]],
) -> Callable[..., Any]:
    """The template as a Python function over engine tensors (the executor runs its nodes)."""

    def fn(*xs: Tensor) -> Any:
        names = dict(closure)
        names.update(zip(template.inputs, xs, strict=True))
        ex = Executor(names, limit, xp)
        ex.run(template.nodes, no_grad=False, guard=guard)
        held.extend(weakref.ref(t) for t in ex.local.values())  # for the guard's measure
        outs = tuple(ex.lookup(name) for name in template.outputs)
        return outs if len(outs) > 1 else outs[0]

    return fn


def _listed(x: Any, many: bool) -> list[Any]:
    return list(x) if many else [x]


def _transform(
    fn_name: str,
    func: Callable[..., Any],
    inputs: list[Tensor],
    v: list[Tensor] | None,
    n_outputs: int,
    create_graph: bool,
    strict: bool,
    vectorize: bool,
    limit: int,
    guard: Guard,
    held: list[weakref.ref[Tensor]],
) -> Result:
    """Run the transform; its outputs and result as lists (rows for jacobian/hessian)."""
    many_in, many_out = len(inputs) > 1, n_outputs > 1
    ins: Any = tuple(inputs) if many_in else inputs[0]
    vs: Any = None if v is None else v[0] if len(v) == 1 else tuple(v)
    f = Functional(_Recording(held))
    try:
        with engine.limits(limit), budget(guard.reserve):
            if fn_name == "jacobian":
                j = f.jacobian(func, ins, create_graph, strict, vectorize)
                rows = [_listed(row, many_in) for row in _listed(j, many_out)]
                return None, rows
            if fn_name == "hessian":
                h = f.hessian(func, ins, create_graph, strict, vectorize)
                return None, [_listed(row, many_in) for row in _listed(h, many_in)]
            if fn_name in ("vjp", "jvp"):
                call = f.vjp if fn_name == "vjp" else f.jvp
                outs, res = call(func, ins, vs, create_graph, strict)
                per = many_in if fn_name == "vjp" else many_out
                return _listed(outs, many_out), _listed(res, per)
            hv = f.hvp if fn_name == "hvp" else f.vhp
            out, res = hv(func, ins, vs, create_graph, strict)
            return [out], _listed(res, many_in)
    except RuntimeError as exc:
        if type(exc) is not RuntimeError:  # RecursionError and the like: not the client's
            raise
        # torch's own errors (strict mode, a wrong v, a non-scalar for hessian), its text
        raise ApiError(400, "invalid_argument", str(exc)) from None
    except (TypeError, ValueError, IndexError, ArithmeticError) as exc:
        # arguments of the wrong kind for the transform: the client's mistake (as the executor)
        raise ApiError(400, "invalid_argument", f"{fn_name}: {exc}") from None
    except MemoryError:
        raise ApiError(413, "tensor_too_large", "the result does not fit in memory") from None


def _bind(bind: FunctionalBind, outputs: list[Tensor] | None, result: Any) -> dict[str, Tensor]:
    """The names ``bind`` gives, checked against the results' shape."""
    out: dict[str, Tensor] = {}

    def pair(names: list[Any], tensors: list[Any], what: str) -> None:
        if len(names) != len(tensors):
            raise ApiError(
                400,
                "invalid_argument",
                f"bind.{what} has {len(names)} entries for {len(tensors)} tensors",
            )
        for name, t in zip(names, tensors, strict=True):
            if isinstance(name, list) != isinstance(t, list):
                raise ApiError(
                    400, "invalid_argument", f"bind.{what}: give one list of names per row"
                )
            if isinstance(name, list):
                pair(name, t, what)
            elif name is not None:
                out[name] = t

    if bind.outputs is not None:
        if outputs is None:
            raise ApiError(400, "invalid_argument", "jacobian and hessian have no outputs to bind")
        pair(bind.outputs, outputs, "outputs")
    if bind.result is not None:
        pair(list(bind.result), result, "result")
    return out


def _report(
    outputs: list[Tensor] | None,
    result: Any,
    names: dict[int, str],
    include: Sequence[str],
    encoding: str,
) -> dict[str, Any]:
    def info(label: str, t: Tensor) -> dict[str, Any]:
        return tensor_info(names.get(id(t), label), t, include, encoding)

    outs = None
    if outputs is not None:
        outs = [info(f"outputs[{i}]", t) for i, t in enumerate(outputs)]
    rows: list[Any] = []
    for i, r in enumerate(result):
        if isinstance(r, list):
            rows.append([info(f"result[{i}][{j}]", t) for j, t in enumerate(r)])
        else:
            rows.append(info(f"result[{i}]", r))
    return {"outputs": outs, "result": rows}


class _Recording:
    """The engine's namespace for ``Functional``, noting (weakly) every tensor the transform
    makes, so that the guard's exact measure sees what it holds while it runs."""

    def __init__(self, held: list[weakref.ref[Tensor]]) -> None:
        self._held = held
        self.autograd = SimpleNamespace(grad=self._recorded(engine.autograd.grad))
        for name in ("stack", "zeros", "zeros_like", "ones_like"):
            setattr(self, name, self._recorded(getattr(engine, name)))
        self.enable_grad = engine.enable_grad

    def _recorded(self, f: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            out = f(*args, **kwargs)
            for t in out if isinstance(out, tuple | list) else (out,):
                if isinstance(t, Tensor):
                    self._held.append(weakref.ref(t))
            return out

        return call


def _measure(
    names: dict[str, Tensor], held: list[weakref.ref[Tensor]]
) -> Callable[[], tuple[int, int, int, int]]:
    """The guard's exact figures: what the session plus the request hold now (the tensors
    the transform made that are still alive), and what the session held before
    (``Executor.measure``'s contract)."""
    start: list[Any] = []

    def measure() -> tuple[int, int, int, int]:
        if not start:
            start.append(footprint(names.values()))
        held[:] = [r for r in held if r() is not None]
        now = footprint([*names.values(), *(r() for r in held)])
        return now.nbytes, weigh(now), start[0].nbytes, weigh(start[0])

    return measure


def run_functional(
    session: Session,
    req: FunctionalRequest,
    settings: Settings,
    server: ServerBudget | None = None,
    cancelled: threading.Event | None = None,
) -> dict[str, Any]:
    """The transform over session tensors; bind and report the results. Nothing is bound if
    any step fails."""
    _check(req.fn, req.graph, len(req.inputs), settings)
    limit, xp = settings.max_tensor_elements, session.backend.xp
    ex = Executor(session.names, limit, xp)

    def tensor(a: Any) -> Tensor:
        return ex.lookup(a) if isinstance(a, str) else _value(a, limit, xp)

    inputs = [tensor(a) for a in req.inputs]
    v = None if req.v is None else [tensor(a) for a in req.v]
    held = [weakref.ref(t) for t in [*inputs, *(v or [])]]
    guard = guard_for(session, settings, ex, server, cancelled)
    guard.measure = _measure(session.names, held)
    try:
        func = _function(req.graph, session.names, limit, xp, guard, held)
        outputs, result = _transform(
            req.fn,
            func,
            inputs,
            v,
            len(req.graph.outputs),
            req.create_graph,
            req.strict,
            req.vectorize,
            limit,
            guard,
            held,
        )
    finally:
        guard.close()
    bound = {} if req.bind is None else _bind(req.bind, outputs, result)
    if bound:
        commit(session, settings, bound)
    body: dict[str, Any] = {"fn": req.fn, "outputs": None, "result": None}
    if req.return_:
        by_id = {id(t): name for name, t in bound.items()}
        body.update(_report(outputs, result, by_id, req.include, req.encoding))
    return body


def run_stateless_functional(
    req: StatelessFunctionalRequest,
    settings: Settings,
    server: ServerBudget | None = None,
    cancelled: threading.Event | None = None,
) -> dict[str, Any]:
    """The transform over values; the results returned."""
    import numpy as np

    _check(req.fn, req.graph, len(req.inputs), settings)
    limit = settings.max_tensor_elements
    inputs = [_value(a, limit, np) for a in req.inputs]
    v = None if req.v is None else [_value(a, limit, np) for a in req.v]
    held = [weakref.ref(t) for t in [*inputs, *(v or [])]]
    # no session: the request's own budget is all it may hold (as POST /v1/grad)
    guard = Guard(
        session_bytes=0,
        max_session_bytes=settings.max_request_bytes,
        max_request_bytes=settings.max_request_bytes,
        measure=_measure({}, held),
        server=server,
        deadline=time.monotonic() + settings.max_request_seconds,
        cancelled=cancelled,
    )
    try:
        func = _function(req.graph, {}, limit, np, guard, held)
        outputs, result = _transform(
            req.fn,
            func,
            inputs,
            v,
            len(req.graph.outputs),
            req.create_graph,
            req.strict,
            req.vectorize,
            limit,
            guard,
            held,
        )
    finally:
        guard.close()
    return {"fn": req.fn, **_report(outputs, result, {}, req.include, req.encoding)}


ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": Problem} for s in (400, 401, 404, 409, 413, 422, 503, 504, 507)
}


@router.post(
    "/v1/sessions/{session_id}/functional", response_model=FunctionalResponse, responses=ERRORS
)
async def session_functional(
    request: Request, session: SessionDep, settings: SettingsDep, body: FunctionalRequest
) -> Response:
    """``torch.autograd.functional.<fn>`` of a graph template over session tensors."""
    server, cancelled = request.app.state.server_budget, threading.Event()
    return json_response(
        await compute(
            request, lambda: run_functional(session, body, settings, server, cancelled), cancelled
        )
    )


@router.post(
    "/v1/functional",
    response_model=FunctionalResponse,
    dependencies=[ApiKeyDep],
    responses={s: {"model": Problem} for s in (400, 401, 409, 413, 422, 503, 504, 507)},
)
async def stateless_functional(
    request: Request, settings: SettingsDep, body: StatelessFunctionalRequest
) -> Response:
    """One request, no session: ``torch.autograd.functional.<fn>`` of a graph template."""
    server, cancelled = request.app.state.server_budget, threading.Event()
    return json_response(
        await compute(
            request,
            lambda: run_stateless_functional(body, settings, server, cancelled),
            cancelled,
        )
    )
