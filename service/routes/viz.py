"""Looking at a session: its graph as a picture (DOT, SVG), an overview of its tensors, and
a tensor's value in PyTorch's print format (what the /ui page shows)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from api_schema import Problem
from api_schema.tensors import NAME_PATTERN
from engine.state import grad_of, nbytes, version
from engine.tensor import Tensor
from engine.viz import default_roots, graph_dot

from ..deps import NamePath, OrjsonRoute, SessionDep, SettingsDep, compute, json_response
from ..errors import ApiError
from ..optimizers import is_reserved
from ..render import render_svg
from ..sessions import Session, commit, lookup
from ..settings import Settings

__all__ = ["DOT_MEDIA_TYPE", "SVG_MEDIA_TYPE", "router"]

router = APIRouter(prefix="/v1/sessions/{session_id}", tags=["inspect"], route_class=OrjsonRoute)
DOT_MEDIA_TYPE = "text/vnd.graphviz"
SVG_MEDIA_TYPE = "image/svg+xml"
_NAME = re.compile(NAME_PATTERN)
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    s: {"model": Problem} for s in (400, 401, 404, 413, 422)
}

Roots = Annotated[
    str | None,
    Query(
        description="Comma-separated tensor names to draw the graph of (highlighted). Default: "
        "the ends of the session's graphs and the tensors outside every graph.",
        examples=["out"],
        max_length=4096,
    ),
]
Saved = Annotated[
    bool, Query(description="Also draw the tensors each grad_fn saved for backward (orange).")
]


def session_dot(session: Session, roots: str | None, saved: bool, settings: Settings) -> str:
    """The DOT text of the session's graph behind ``roots`` (every graph when ``None``)."""
    names = {n: t for n, t in session.names.items() if not is_reserved(n)}
    if roots is None or not roots.strip():
        chosen = default_roots(names)
    else:
        wanted = list(dict.fromkeys(r.strip() for r in roots.split(",") if r.strip()))
        bad = [r for r in wanted if not _NAME.match(r)]
        if bad:
            raise ApiError(400, "invalid_argument", f"roots holds invalid names: {bad[:10]}")
        missing = [r for r in wanted if r not in names]
        if missing:
            raise ApiError(400, "unknown_name", f"names not bound: {missing[:10]}")
        chosen = {r: names[r] for r in wanted}
    return graph_dot(chosen, names, saved=saved, max_nodes=settings.max_picture_nodes)


_DOT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_PROBLEMS,
    200: {
        "description": "Graphviz DOT text (torchviz's conventions)",
        "content": {DOT_MEDIA_TYPE: {"schema": {"type": "string"}}},
    },
}
_SVG_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_PROBLEMS,
    501: {"model": Problem, "description": "Graphviz's dot is not installed on the server"},
    200: {
        "description": "The graph drawn by Graphviz",
        "content": {SVG_MEDIA_TYPE: {"schema": {"type": "string"}}},
    },
}


@router.get("/graph.dot", response_class=Response, responses=_DOT_RESPONSES)
async def graph_as_dot(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    roots: Roots = None,
    saved: Saved = False,
) -> Response:
    """The autograd graph as Graphviz DOT text: grad_fn nodes by PyTorch's names, leaves with
    their names, shapes and dtypes, the roots highlighted, freed nodes greyed."""
    text = await compute(request, lambda: session_dot(session, roots, saved, settings))
    return Response(text, media_type=DOT_MEDIA_TYPE)


@router.get("/graph.svg", response_class=Response, responses=_SVG_RESPONSES)
async def graph_as_svg(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    roots: Roots = None,
    saved: Saved = False,
) -> Response:
    """The autograd graph drawn as SVG by Graphviz (501 renderer_unavailable without ``dot``;
    graph.dot works everywhere)."""
    text = await compute(request, lambda: session_dot(session, roots, saved, settings))
    svg = await compute(request, lambda: render_svg(text))
    return Response(svg, media_type=SVG_MEDIA_TYPE)


class BindNames(BaseModel):
    """New names for tensors the session holds: ``{"out": "_t7"}`` binds ``out`` to the tensor
    ``_t7`` is bound to (Python's ``out = t``: one tensor, two names)."""

    names: dict[
        Annotated[str, Field(pattern=NAME_PATTERN)], Annotated[str, Field(pattern=NAME_PATTERN)]
    ] = Field(max_length=1000, examples=[{"out": "_t7", "x": "_t1"}])


class TensorSummary(BaseModel):
    """One bound tensor as the /ui page lists it."""

    name: str
    shape: list[int]
    dtype: str
    requires_grad: bool
    is_leaf: bool
    grad_fn: str | None = Field(description="PyTorch's grad_fn class name, or null.")
    has_grad: bool = Field(description="Whether .grad is set.")
    bytes: int = Field(description="Bytes of the values (shape x dtype size).")
    version: int


class SessionOverview(BaseModel):
    """Every bound tensor of a session, by name."""

    tensors: list[TensorSummary]


class TensorRepr(BaseModel):
    """A tensor and its .grad in PyTorch's print format (summarized like torch past 1000
    elements)."""

    name: str
    data: str = Field(examples=["tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)"])
    grad: str | None = Field(examples=["tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"])


def _summary(name: str, t: Tensor) -> dict[str, Any]:
    return {
        "name": name,
        "shape": list(t.shape),
        "dtype": t.dtype.name,
        "requires_grad": t.requires_grad,
        "is_leaf": t.is_leaf,
        "grad_fn": None if t.grad_fn is None else t.grad_fn.fn_name,
        "has_grad": grad_of(t) is not None,
        "bytes": nbytes(t),
        "version": version(t),
    }


@router.post("/names", response_model=SessionOverview, responses=_PROBLEMS)
async def bind_names(
    request: Request, session: SessionDep, settings: SettingsDep, body: BindNames
) -> Response:
    """Bind more names to tensors the session holds (what the page and the pictures show;
    the Python client's ``torch.viz.name(out=out)``); 400 unknown_name for an unbound one."""
    missing = [t for t in body.names.values() if t not in session.names]
    if missing:
        raise ApiError(400, "unknown_name", f"names not bound: {missing[:10]}")
    bind = {new: session.names[old] for new, old in body.names.items()}
    await compute(request, lambda: commit(session, settings, bind))
    return json_response({"tensors": [_summary(n, session.names[n]) for n in body.names]})


@router.get("/overview", response_model=SessionOverview, responses=_PROBLEMS)
async def overview(session: SessionDep) -> Response:
    """Every bound tensor: name, shape, dtype, requires_grad, is_leaf, grad_fn, has_grad and
    bytes (no values)."""
    named = [_summary(n, t) for n, t in session.names.items() if not is_reserved(n)]
    return json_response({"tensors": named})


class NextFunction(BaseModel):
    """One entry of ``grad_fn.next_functions``: a node, or a leaf's AccumulateGrad."""

    name: str = Field(examples=["MulBackward0", "torch::autograd::AccumulateGrad"])
    variable: str | None = Field(
        None, description="AccumulateGrad: a name bound to the leaf (null: none is)."
    )
    tensors: list[str] = Field(
        default_factory=list, description="The names whose current grad_fn is this node."
    )


class GradFnInfo(BaseModel):
    """A grad_fn and its ``next_functions`` (``(fn, 0)`` per input; null where an input has
    no node: a constant, or a tensor that does not require grad)."""

    name: str
    next_functions: list[NextFunction | None]


GradFnPath = Annotated[
    str | None,
    Query(
        description="Comma-separated indices into next_functions from the tensor's grad_fn "
        "(`0,1`: next_functions[0][0].next_functions[1][0]); omitted: the grad_fn itself.",
        max_length=4096,
        pattern=r"^\d+(,\d+)*$",
        examples=["0,1"],
    ),
]


def grad_fn_info(session: Session, name: str, path: str | None) -> dict[str, Any]:
    """``t.grad_fn`` (followed along ``path``) with its next_functions, by session names."""
    t = lookup(session, name)
    node: Any = t.grad_fn
    if node is None:
        raise ApiError(400, "invalid_argument", f"{name!r} has no grad_fn (a leaf or no grad)")
    steps = [] if path is None else [int(p) for p in path.split(",")]
    for k, i in enumerate(steps):
        nxt = node.next_functions
        if i >= len(nxt) or nxt[i][0] is None or not hasattr(nxt[i][0], "next"):
            raise ApiError(
                400, "invalid_argument", f"path step {k} ({i}) does not lead to a grad_fn node"
            )
        node = nxt[i][0]
    owners: dict[int, list[str]] = {}
    leaves: dict[int, str] = {}
    for n, x in session.names.items():
        if is_reserved(n):
            continue
        if x.grad_fn is not None:
            owners.setdefault(id(x.grad_fn), []).append(n)
        else:
            leaves.setdefault(id(x), n)
    out: list[dict[str, Any] | None] = []
    for fn, _ in node.next_functions:
        if fn is None:
            out.append(None)
        elif hasattr(fn, "variable"):  # a leaf's AccumulateGrad
            out.append({"name": fn.name(), "variable": leaves.get(id(fn.variable)), "tensors": []})
        else:
            # the type name, as TensorInfo's grad_fn (torch's name() may qualify it)
            out.append({"name": fn.fn_name, "variable": None, "tensors": owners.get(id(fn), [])})
    return {"name": node.fn_name, "next_functions": out}


@router.get("/tensors/{name}/grad_fn", response_model=GradFnInfo, responses=_PROBLEMS)
async def tensor_grad_fn(
    request: Request, session: SessionDep, name: NamePath, path: GradFnPath = None
) -> Response:
    """``t.grad_fn.next_functions`` (along ``path``): what each input's gradient flows to."""
    return json_response(await compute(request, lambda: grad_fn_info(session, name, path)))


@router.get("/tensors/{name}/repr", response_model=TensorRepr, responses=_PROBLEMS)
async def tensor_repr(request: Request, session: SessionDep, name: NamePath) -> Response:
    """``repr(t)`` and ``repr(t.grad)`` as PyTorch prints them."""
    t = lookup(session, name)

    def work() -> dict[str, Any]:
        grad = grad_of(t)
        return {"name": name, "data": repr(t), "grad": None if grad is None else repr(grad)}

    return json_response(await compute(request, work))
