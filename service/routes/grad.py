"""backward, autograd.grad and the stateless /v1/grad."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

import engine
from api_schema import (
    BackwardRequest,
    GradRequest,
    GradsResponse,
    Problem,
    StatelessGradRequest,
    StatelessGradResponse,
    StatelessInput,
)
from engine.errors import DoesNotRequireGradError
from engine.state import (
    allocated_bytes,
    budget,
    checkpoint,
    from_array,
    grad_of,
    reached_leaves,
)
from engine.tensor import Tensor

from ..budget import Guard, ServerBudget, guard_for
from ..codecs import decode_tensor_data
from ..deps import (
    ApiKeyDep,
    OrjsonRoute,
    SessionDep,
    SettingsDep,
    compute,
    hot_route,
    json_response,
    request_bytes,
)
from ..errors import ApiError
from ..executor import Executor, unknown_name
from ..optimizers import is_reserved
from ..sessions import Session, account, commit
from ..settings import Settings
from ..templates import stored_nodes
from ..views import tensor_data

router = APIRouter(tags=["gradients"], route_class=OrjsonRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": Problem} for s in (400, 401, 404, 409, 413, 422, 503, 504, 507)
}


def _tensor_arg(ex: Executor, value: Any, like: Tensor) -> Tensor:
    """A gradient given as a session name or as TensorData (in the output's dtype)."""
    if isinstance(value, str):
        return ex.lookup(value)
    arr = decode_tensor_data(value, ex.max_elements, like.dtype.name)
    return from_array(ex.xp.asarray(arr))


def _grad_map(names: dict[str, Tensor], ids: Collection[int], encoding: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, t in names.items():
        if id(t) in ids and not is_reserved(name):  # an optimizer's alias is not a client name
            out[name] = tensor_data(grad_of(t), encoding)
    return out


def run_backward(
    session: Session,
    req: BackwardRequest,
    settings: Settings,
    server: ServerBudget | None = None,
    cancelled: threading.Event | None = None,
) -> dict[str, Any]:
    ex = Executor(session.names, settings.max_tensor_elements, session.backend.xp)
    out = ex.lookup(req.tensor)
    if not out.requires_grad:  # checked first, before the gradient is even resolved
        raise DoesNotRequireGradError(
            "element 0 of tensors does not require grad and does not have a grad_fn"
        )
    gradient = None if req.gradient is None else _tensor_arg(ex, req.gradient, out)
    inputs = None if req.inputs is None else [ex.lookup(n) for n in req.inputs]
    wanted = [ex.lookup(n) for n in req.return_grads] if isinstance(req.return_grads, list) else []
    # what backward may accumulate into: put back as it was if it stops half way (a budget,
    # the deadline, a client gone); arrays are immutable, so the references are the state
    touched = {id(t): t for t in [*session.names.values(), *reached_leaves([out])]}
    before = [checkpoint(t) for t in touched.values()]
    guard = guard_for(session, settings, ex, server, cancelled)
    try:
        with engine.limits(settings.max_tensor_elements), budget(guard.reserve):
            out.backward(gradient, req.retain_graph, req.create_graph, inputs)
    except BaseException:
        for c in before:
            c.restore()
        raise
    finally:
        guard.close()
    if isinstance(req.return_grads, list):  # the .grad of exactly these names
        grads = {
            n: tensor_data(grad_of(t), req.encoding)
            for n, t in zip(req.return_grads, wanted, strict=True)
        }
    elif req.return_grads == "none":
        grads = {}
    elif inputs is not None:
        names = req.inputs or []
        grads = {
            n: tensor_data(grad_of(t), req.encoding) for n, t in zip(names, inputs, strict=True)
        }
    else:
        reached = {id(t) for t in reached_leaves([out])}
        grads = _grad_map(session.names, reached, req.encoding)
    session.bytes = account(session, settings, allocated_bytes())
    return {"grads": grads}


def session_cost(request: Request, session: Session) -> int:
    """A backward or grad call's estimated cost: it walks at most the session's graph, so
    the session's last measured bytes plus the body. (``session.bytes``, the quota's upper
    bound, grows by every request's allocations until the next measurement: it would send
    a small session's repeated backward calls to the pool.)"""
    return session.exact_bytes + request_bytes(request)


async def backward_response(
    request: Request, session: Session, body: BackwardRequest, settings: Settings
) -> Response:
    server, cancelled = request.app.state.server_budget, threading.Event()
    work = lambda: run_backward(session, body, settings, server, cancelled)  # noqa: E731
    cost = session_cost(request, session)
    return json_response(await compute(request, work, cancelled, cost))


@router.post("/v1/sessions/{session_id}/backward", response_model=GradsResponse, responses=ERRORS)
@hot_route(BackwardRequest, backward_response)
async def backward(
    request: Request, session: SessionDep, settings: SettingsDep, body: BackwardRequest
) -> Response:
    """``tensor.backward()``: accumulate into leaves' ``.grad``; report the reached leaves'."""
    return await backward_response(request, session, body, settings)


def run_grad(
    session: Session,
    req: GradRequest,
    settings: Settings,
    server: ServerBudget | None = None,
    cancelled: threading.Event | None = None,
) -> dict[str, Any]:
    ex = Executor(session.names, settings.max_tensor_elements, session.backend.xp)
    outputs = [ex.lookup(n) for n in req.outputs]
    inputs = [ex.lookup(n) for n in req.inputs]
    if req.bind is not None and len(req.bind) != len(req.inputs):
        raise ApiError(400, "invalid_argument", "'bind' needs one name per input")
    gos = None
    if req.grad_outputs is not None:
        if len(req.grad_outputs) != len(outputs):
            raise ApiError(400, "invalid_argument", "'grad_outputs' needs one entry per output")
        gos = [
            None if g is None else _tensor_arg(ex, g, o)
            for g, o in zip(req.grad_outputs, outputs, strict=True)
        ]
    guard = guard_for(session, settings, ex, server, cancelled)
    try:
        with engine.limits(settings.max_tensor_elements), budget(guard.reserve):
            results = engine.autograd.grad(
                outputs, inputs, gos, req.retain_graph, req.create_graph, req.allow_unused
            )
    finally:
        guard.close()
    grads: dict[str, Any] = {}
    bind: dict[str, Tensor] = {}
    for i, (name, g) in enumerate(zip(req.inputs, results, strict=True)):
        grads[name] = tensor_data(g, req.encoding)
        if req.bind is not None and g is not None:
            bind[req.bind[i]] = g
    if bind:
        commit(session, settings, bind)
    return {"grads": grads}


async def grad_response(
    request: Request, session: Session, body: GradRequest, settings: Settings
) -> Response:
    server, cancelled = request.app.state.server_budget, threading.Event()
    work = lambda: run_grad(session, body, settings, server, cancelled)  # noqa: E731
    cost = session_cost(request, session)
    return json_response(await compute(request, work, cancelled, cost))


@router.post("/v1/sessions/{session_id}/grad", response_model=GradsResponse, responses=ERRORS)
@hot_route(GradRequest, grad_response)
async def autograd_grad(
    request: Request, session: SessionDep, settings: SettingsDep, body: GradRequest
) -> Response:
    """``torch.autograd.grad``: ``.grad`` is untouched; ``bind`` names the results."""
    return await grad_response(request, session, body, settings)


def run_stateless(
    req: StatelessGradRequest,
    settings: Settings,
    server: ServerBudget | None = None,
    cancelled: threading.Event | None = None,
) -> dict[str, Any]:
    # stored templates count too; nothing outlives the request, so any store may run them
    count = len(req.nodes) + stored_nodes(req.nodes)
    if count > settings.max_nodes_per_request:
        raise ApiError(
            413,
            "graph_too_large",
            f"{count} nodes is above the limit of {settings.max_nodes_per_request}",
        )
    import numpy as np

    names: dict[str, Tensor] = {}
    limit = settings.max_tensor_elements
    for name, inp in req.inputs.items():
        spec = inp if isinstance(inp, StatelessInput) else StatelessInput(value=inp)
        needs_grad = spec.requires_grad or name in req.wrt
        arr = decode_tensor_data(spec.value, limit)
        if needs_grad and arr.dtype.kind in "iub" and getattr(spec.value, "dtype", None) is None:
            # JSON cannot tell 1 from 1.0 (docs/api.md's stateless example sends [[1, 1], ...]):
            # an input that must require grad and names no dtype is the default float
            arr = decode_tensor_data(spec.value, limit, engine.dtypes.default_float().name)
        names[name] = from_array(arr, requires_grad=needs_grad)
    for name in req.wrt:
        if name not in names:
            raise unknown_name(name)
    ex = Executor(names, limit, np)
    # no session: the request's own budget is all it may hold
    guard = Guard(
        session_bytes=0,
        max_session_bytes=settings.max_request_bytes,
        max_request_bytes=settings.max_request_bytes,
        measure=ex.measure,
        server=server,
        deadline=time.monotonic() + settings.max_request_seconds,
        cancelled=cancelled,
    )
    try:
        ex.run(req.nodes, no_grad=False, guard=guard)
        out = ex.lookup(req.output)
        gradient = None if req.gradient is None else _tensor_arg(ex, req.gradient, out)
        wrt = [names[n] for n in req.wrt]
        grads: dict[str, Any] = {}
        if wrt:
            results: tuple[Tensor | None, ...] = (None,) * len(wrt)
            if out.requires_grad:  # else the output depends on no wrt input: every grad is null
                with engine.limits(limit), budget(guard.reserve):
                    results = engine.autograd.grad(out, wrt, gradient, allow_unused=True)
            for name, g in zip(req.wrt, results, strict=True):
                grads[name] = tensor_data(g, req.encoding)
        return {"output": tensor_data(out, req.encoding), "grads": grads}
    finally:
        guard.close()


@router.post(
    "/v1/grad",
    response_model=StatelessGradResponse,
    dependencies=[ApiKeyDep],
    responses={s: {"model": Problem} for s in (400, 401, 409, 413, 422, 503, 504, 507)},
)
async def stateless_grad(
    request: Request, settings: SettingsDep, body: StatelessGradRequest
) -> Response:
    """One request, no session: build the graph, differentiate the output, return both."""
    server, cancelled = request.app.state.server_budget, threading.Event()
    return json_response(
        await compute(request, lambda: run_stateless(body, settings, server, cancelled), cancelled)
    )
