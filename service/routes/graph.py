"""POST /v1/sessions/{id}/graph: define-by-run nodes, applied atomically."""

from __future__ import annotations

import re
import threading
from typing import Any, get_args

from fastapi import APIRouter, Request
from starlette.responses import Response

from api_schema import GraphRequest, GraphResponse, Problem
from api_schema.graph import COMPACT_FIELDS
from api_schema.tensors import NAME_PATTERN, Encoding
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
from ..executor import Executor, Node, unknown_name
from ..profiling import NodeProfile, ProfilingExecutor
from ..sessions import Session, commit
from ..settings import Settings
from ..templates import stored_nodes
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
    count = len(req.nodes) + stored_nodes(req.nodes)
    if count > settings.max_nodes_per_request:
        raise ApiError(
            413,
            "graph_too_large",
            f"{count} nodes is above the limit of {settings.max_nodes_per_request}",
        )
    if req.profile:
        return _profiled(session, req, settings, server, cancelled)
    ex = Executor(session.names, settings.max_tensor_elements, session.backend.xp)
    guard = guard_for(session, settings, ex, server, cancelled)
    try:
        ex.run(req.nodes, req.no_grad, guard, req.free, req.return_)
        return _finish(ex, session, req, settings)
    finally:
        guard.close()


def _profiled(
    session: Session,
    req: GraphRequest,
    settings: Settings,
    server: ServerBudget | None,
    cancelled: threading.Event | None,
) -> dict[str, Any]:
    """``run_graph`` under the engine's profiler (``"profile": true``)."""
    ex = ProfilingExecutor(session.names, settings.max_tensor_elements, session.backend.xp)
    guard = guard_for(session, settings, ex, server, cancelled)
    try:
        prof = NodeProfile(ex)
        with prof:
            ex.run(req.nodes, req.no_grad, guard, req.free, req.return_)
        result = _finish(ex, session, req, settings)
    finally:
        guard.close()
    result["profile"] = ex.report(prof, req.nodes)
    return result


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
    sizes: dict[str, int] = {}  # per name named: its bytes (a name recurs from node to node)
    cost = body_bytes + NODE_COST * len(req.nodes)
    for node in req.nodes:
        biggest = 0
        for a in node.args:
            if type(a) is str:
                size = sizes.get(a)
                if size is None:
                    t = names.get(a)
                    size = sizes[a] = 0 if t is None else nbytes(t)
                if size > biggest:
                    biggest = size
        cost += biggest
    return cost


# ----------------------------------------------------------- the batch's fast path
_BODY_KEYS = frozenset({"nodes", "no_grad", "return", "include", "encoding", "free", "profile"})
_NODE_KEYS = frozenset(COMPACT_FIELDS)
_INCLUDE = frozenset({"data", "grad"})
_ENCODINGS = frozenset(get_args(Encoding))
assert NAME_PATTERN.startswith("^") and NAME_PATTERN.endswith("$")
_NAME = re.compile(NAME_PATTERN[1:-1])  # fullmatch: ``$`` would let a final newline through


def _strs(value: Any) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


def parse_batch(data: Any) -> GraphRequest | None:
    """A graph request body checked as ``GraphRequest`` checks it, without a model per node:
    nodes as objects or in the compact form (``[name, op, args, kwargs?, no_grad?]``). None
    for anything not plainly valid (``GraphRequest`` then decides, and words the error)."""
    if type(data) is not dict or not data.keys() <= _BODY_KEYS:
        return None
    nodes = data.get("nodes", [])
    no_grad = data.get("no_grad", False)
    names = data.get("return")
    include = data.get("include", [])
    encoding = data.get("encoding", "json")
    free = data.get("free", [])
    profile = data.get("profile", False)
    if (
        type(nodes) is not list
        or type(profile) is not bool
        or type(no_grad) is not bool
        or (names is not None and not _strs(names))
        or not _strs(include)
        or not _INCLUDE.issuperset(include)
        or type(encoding) is not str
        or encoding not in _ENCODINGS
        or not _strs(free)
    ):
        return None
    out: list[Node] = []
    append = out.append
    name_ok = _NAME.fullmatch
    for n in nodes:
        kind = type(n)
        if kind is list:
            size = len(n)
            if size == 3:
                name, op, args = n
                kwargs, node_no_grad = {}, None
            elif size == 4:
                name, op, args, kwargs = n
                node_no_grad = None
            elif size == 5:
                name, op, args, kwargs, node_no_grad = n
            else:
                return None
        elif kind is dict and "op" in n and n.keys() <= _NODE_KEYS:
            name, op = n.get("name"), n["op"]
            args, kwargs = n.get("args", []), n.get("kwargs", {})
            node_no_grad = n.get("no_grad")
        else:
            return None
        if (
            (name is not None and (type(name) is not str or name_ok(name) is None))
            or type(op) is not str
            or type(args) is not list
            or type(kwargs) is not dict
            or (node_no_grad is not None and type(node_no_grad) is not bool)
        ):
            return None
        append(Node(name, op, args, kwargs, node_no_grad))
    return GraphRequest.model_construct(
        nodes=out,  # type: ignore[arg-type]  # read as GraphNodes are (executor.NodeLike)
        no_grad=no_grad,
        return_=names,
        include=include,
        encoding=encoding,  # type: ignore[arg-type]  # one of _ENCODINGS
        free=free,
        profile=profile,
    )


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
@hot_route(GraphRequest, graph_response, parse_batch)  # below: the route is built with the mark on
async def run_graph_request(
    request: Request, session: SessionDep, settings: SettingsDep, body: GraphRequest
) -> Response:
    """Add nodes to the session's graph; report the ``return`` names."""
    return await graph_response(request, session, body, settings)
