"""POST /v1/sessions/{id}/graph: define-by-run nodes, applied atomically."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from api_schema import GraphRequest, GraphResponse, Problem
from engine.state import nbytes

from ..budget import ServerBudget, guard_for
from ..deps import (
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
from ..sessions import Session, commit
from ..settings import Settings
from ..views import tensor_info

router = APIRouter(prefix="/v1/sessions/{session_id}", tags=["graph"], route_class=OrjsonRoute)


def run_graph(
    session: Session,
    req: GraphRequest,
    settings: Settings,
    server: ServerBudget | None = None,
    cancelled: threading.Event | None = None,
) -> dict[str, Any]:
    """Run the nodes, then bind, free and report; nothing changes if any step fails.

    Every op is checked against the session's quota, the request's byte budget and the
    server's before it allocates, and the deadline and the client between nodes."""
    if len(req.nodes) > settings.max_nodes_per_request:
        raise ApiError(
            413,
            "graph_too_large",
            f"{len(req.nodes)} nodes is above the limit of {settings.max_nodes_per_request}",
        )
    ex = Executor(session.names, settings.max_tensor_elements, session.backend.xp)
    guard = guard_for(session, settings, ex, server, cancelled)
    try:
        ex.run(req.nodes, req.no_grad, guard, req.free, req.return_)
        return _finish(ex, session, req, settings)
    finally:
        guard.close()


def _finish(
    ex: Executor, session: Session, req: GraphRequest, settings: Settings
) -> dict[str, Any]:
    try:
        for name in req.free:
            if not ex.bound(name):
                raise unknown_name(name)
        names = req.return_
        if names is None:
            names = list(dict.fromkeys(n.name for n in req.nodes if n.name is not None))
        report = {}
        for name in names:
            t = ex.lookup(name)
            report[name] = tensor_info(name, t, req.include, req.encoding)
        commit(session, settings, ex.local, req.free)
    except Exception:
        ex.rollback()
        raise
    return {"tensors": report}


# a node's fixed cost, in the bytes of the cost estimate (Python-level work per node)
NODE_COST = 256


def graph_cost(session: Session, req: GraphRequest, body_bytes: int) -> int:
    """Estimated bytes the request touches: per node the largest session tensor it names
    (plus a fixed cost), and the body (inline values)."""
    names = session.names
    cost = body_bytes
    for node in req.nodes:
        biggest = 0
        for a in node.args:
            if isinstance(a, str):
                t = names.get(a)
                if t is not None:
                    biggest = max(biggest, nbytes(t))
        cost += biggest + NODE_COST
    return cost


async def graph_response(
    request: Request, session: Session, body: GraphRequest, settings: Settings
) -> Response:
    server = request.app.state.server_budget
    cancelled = threading.Event()
    cost = graph_cost(session, body, request_bytes(request))
    result = await compute(
        request, lambda: run_graph(session, body, settings, server, cancelled), cancelled, cost
    )
    return json_response(result)


@router.post(
    "/graph",
    response_model=GraphResponse,
    responses={s: {"model": Problem} for s in (400, 401, 404, 409, 413, 422, 503, 504, 507)},
)
@hot_route(GraphRequest, graph_response)  # below: the route is built with the mark on
async def run_graph_request(
    request: Request, session: SessionDep, settings: SettingsDep, body: GraphRequest
) -> Response:
    """Add nodes to the session's graph; report the ``return`` names."""
    return await graph_response(request, session, body, settings)
