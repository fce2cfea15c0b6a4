"""/v1/sessions/{id}/tensors: create, list, read, replace (.npy), patch, delete, zero_grad."""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

import engine
from api_schema import (
    Encoding,
    Problem,
    TensorCreate,
    TensorInfo,
    TensorList,
    TensorPatch,
    ZeroGradRequest,
)
from engine import dtypes as D
from engine.errors import EngineError
from engine.state import grad_of, nbytes
from engine.tensor import Tensor

from ..codecs import (
    NPY_MEDIA_TYPE,
    check_numel,
    decode_npy,
    decode_tensor_data,
    encode_npy,
)
from ..deps import (
    NamePath,
    OrjsonRoute,
    SessionDep,
    SettingsDep,
    compute,
    hot_route,
    json_response,
    request_bytes,
)
from ..errors import ApiError
from ..optimizers import is_reserved
from ..sessions import Session, commit, lookup, measure
from ..settings import Settings
from ..views import tensor_data, tensor_info

router = APIRouter(prefix="/v1/sessions/{session_id}", tags=["tensors"], route_class=OrjsonRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem},
    401: {"model": Problem},
    404: {"model": Problem},
    413: {"model": Problem},
    503: {"model": Problem},
    507: {"model": Problem},
}
Include = Annotated[
    str | None, Query(description="Comma-separated: data, grad.", examples=["data,grad"])
]


def parse_include(include: str | None) -> list[str]:
    items = [i.strip() for i in (include or "").split(",") if i.strip()]
    bad = [i for i in items if i not in ("data", "grad")]
    if bad:
        raise ApiError(400, "invalid_argument", f"include takes data and grad, not {bad}")
    return items


def _fill(session: Session, body: TensorCreate, limit: int) -> Tensor:
    kind = body.fill
    dtype = body.dtype
    if kind == "arange":
        if body.end is None and body.start is None:
            raise ApiError(400, "invalid_argument", "arange needs 'end' (and optional start, step)")
        start: float = 0
        if body.end is None:
            assert body.start is not None
            end: float = body.start
        else:
            start, end = body.start or 0, body.end
        step = 1 if body.step is None else body.step
        if step == 0:
            raise ApiError(400, "invalid_argument", "step must be nonzero")
        span = (end - start) / step  # inf for huge bounds, nan for non-finite ones
        if math.isnan(span):
            raise ApiError(400, "invalid_argument", "arange needs finite start, end and step")
        n = max(0, math.ceil(span)) if math.isfinite(span) else (math.inf if span > 0 else 0)
        if n > limit:
            raise ApiError(413, "tensor_too_large", f"arange of {n} elements is above {limit}")
        return engine.arange(start, end, step, dtype=dtype)
    shape = body.shape
    if shape is None:
        raise ApiError(400, "invalid_argument", f"fill {kind!r} needs 'shape'")
    if kind == "eye":
        if len(shape) not in (1, 2):
            raise ApiError(400, "invalid_argument", "eye takes shape [n] or [n, m]")
        shape = [shape[0], shape[-1]]
    check_numel(shape, limit)
    if kind == "zeros":
        return engine.zeros(*shape, dtype=dtype)
    if kind == "ones":
        return engine.ones(*shape, dtype=dtype)
    if kind == "full":
        if body.fill_value is None:
            raise ApiError(400, "invalid_argument", "fill 'full' needs 'fill_value'")
        return engine.full(shape, body.fill_value, dtype=dtype)
    if kind == "eye":
        return engine.eye(shape[0], shape[1], dtype=dtype)
    if kind == "randn":
        return engine.randn(*shape, dtype=dtype, generator=session.generator)
    return engine.rand(*shape, dtype=dtype, generator=session.generator)


def create_leaf(session: Session, body: TensorCreate, settings: Settings) -> tuple[str, Tensor]:
    """Build the leaf a TensorCreate describes and bind it."""
    if (body.value is None) == (body.fill is None):
        raise ApiError(400, "invalid_argument", "give exactly one of 'value' or 'fill'")
    if body.seed is not None:  # torch.manual_seed: the sequence starts over
        session.generator = np.random.default_rng(body.seed)
    limit = settings.max_tensor_elements
    try:
        with engine.use_backend(session.backend), engine.limits(limit):
            if body.value is not None:
                arr = decode_tensor_data(body.value, limit, body.dtype)
                if body.dtype is not None:
                    arr = arr.astype(D.as_dtype(body.dtype).np, copy=False)
                t = (
                    engine.tensor(arr)
                    if session.backend.name != "numpy"
                    else engine.from_numpy(arr)
                )
            else:
                t = _fill(session, body, limit)
            if body.requires_grad:
                t.requires_grad_(True)
    except EngineError:
        raise
    except (TypeError, ValueError, IndexError, ArithmeticError) as exc:
        # e.g. zeros of shape [0, 2**63] or full(2**70): the client's values, not a server bug
        raise ApiError(400, "invalid_argument", f"{body.fill or 'value'}: {exc}") from None
    name = body.name or session.new_name()
    commit(session, settings, {name: t})
    return name, t


def create_cost(request: Request, body: TensorCreate) -> int | None:
    """The bytes a create makes: the body (a value), or 8 per element of a fill's shape;
    None (the pool) for an arange, whose size the bounds give."""
    if body.fill is None:
        return request_bytes(request)
    if body.shape is None or body.fill == "arange":
        return None
    n = 1
    for d in body.shape:
        n *= max(int(d), 0)
    return request_bytes(request) + 8 * n


async def create_response(
    request: Request, session: Session, body: TensorCreate, settings: Settings
) -> Response:
    shape = body.shape if body.fill not in (None, "arange") else None
    # what the fill allocates (8 bytes an element at most), refused before it is taken;
    # above the element limit it is 413 tensor_too_large instead
    numel = min(math.prod(shape), settings.max_tensor_elements) if shape else 0
    request.app.state.server_budget.check_new(8 * numel)
    work = lambda: create_leaf(session, body, settings)  # noqa: E731
    name, t = await compute(request, work, cost=create_cost(request, body))
    return json_response(tensor_info(name, t), 201)


@router.post("/tensors", status_code=201, response_model=TensorInfo, responses=ERRORS)
@hot_route(TensorCreate, create_response)
async def create_tensor(
    request: Request, session: SessionDep, settings: SettingsDep, body: TensorCreate
) -> Response:
    """Create a leaf from a value or a fill (zeros, ones, full, randn, rand, arange, eye)."""
    return await create_response(request, session, body, settings)


@router.get("/tensors", response_model=TensorList, responses=ERRORS)
async def list_tensors(session: SessionDep) -> Response:
    """Every bound name, without values."""
    named = [tensor_info(n, t) for n, t in session.names.items() if not is_reserved(n)]
    return json_response({"tensors": named})


@router.get("/tensors/{name}", response_model=TensorInfo, responses=ERRORS)
async def read_tensor(
    request: Request,
    session: SessionDep,
    name: NamePath,
    include: Include = None,
    encoding: Encoding = "json",
) -> Response:
    """A tensor's metadata, with its values and .grad when included."""
    inc = parse_include(include)
    t = lookup(session, name)
    # (.grad read only when asked for: on a non-leaf reading it warns, as torch does)
    g = grad_of(t) if "grad" in inc else None
    cost = (nbytes(t) if "data" in inc else 0) + (nbytes(g) if g is not None else 0)
    info = await compute(request, lambda: tensor_info(name, t, inc, encoding), cost=cost)
    return json_response(info)


def _wants_npy(request: Request) -> bool:
    return NPY_MEDIA_TYPE in request.headers.get("accept", "")


def _value_response(
    request: Request, t: Tensor | None, encoding: str, what: str, name: str
) -> Response:
    if _wants_npy(request):
        if t is None:
            raise ApiError(404, "grad_not_found", f"{name!r} has no .grad")
        return Response(encode_npy(t.numpy(force=True)), media_type=NPY_MEDIA_TYPE)
    if t is None:
        return json_response(None)
    return json_response(tensor_data(t, encoding))


_VALUE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "description": "TensorData as JSON, or the .npy file with Accept: application/x-npy.",
        "content": {NPY_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    },
}


@router.get("/tensors/{name}/data", responses=_VALUE_RESPONSES)
async def read_tensor_data(
    request: Request, session: SessionDep, name: NamePath, encoding: Encoding = "json"
) -> Response:
    """The values: TensorData (JSON) or ``.npy`` by the Accept header."""
    t = lookup(session, name)
    work = lambda: _value_response(request, t, encoding, "data", name)  # noqa: E731
    return await compute(request, work, cost=nbytes(t))


@router.get("/tensors/{name}/grad", responses=_VALUE_RESPONSES)
async def read_tensor_grad(
    request: Request, session: SessionDep, name: NamePath, encoding: Encoding = "json"
) -> Response:
    """The ``.grad``: TensorData or null (JSON), or ``.npy`` (404 grad_not_found when none)."""
    t = lookup(session, name)
    g = grad_of(t)  # as stored: no torch non-leaf warning in the server's log
    work = lambda: _value_response(request, g, encoding, "grad", name)  # noqa: E731
    return await compute(request, work, cost=0 if g is None else nbytes(g))


async def read_npy_body(request: Request) -> bytes | None:
    """A ``.npy`` body, read in full (within the body-read timeout) before the session is
    taken: a client that stalls mid-upload never holds the session's lock."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != NPY_MEDIA_TYPE:
        return None  # the handler answers 415 (after the session's own checks, as before)
    return await request.body()


NpyBody = Annotated[bytes | None, Depends(read_npy_body)]


@router.put(
    "/tensors/{name}",
    response_model=TensorInfo,
    responses={**ERRORS, 201: {"model": TensorInfo}, 415: {"model": Problem}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {NPY_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def put_tensor(
    request: Request,
    body: NpyBody,
    session: SessionDep,
    settings: SettingsDep,
    name: NamePath,
    requires_grad: bool = False,
) -> Response:
    """Create (201) or replace (200) a leaf from a ``.npy`` body."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != NPY_MEDIA_TYPE:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"PUT takes Content-Type: {NPY_MEDIA_TYPE}, not {ctype!r}",
        )
    assert body is not None
    request.app.state.server_budget.check_new(len(body))

    def work() -> tuple[bool, Tensor]:
        arr = decode_npy(body, settings.max_tensor_elements)
        t = engine.from_numpy(arr) if session.backend.name == "numpy" else engine.tensor(arr)
        if requires_grad:
            t.requires_grad_(True)
        created = name not in session.names
        commit(session, settings, {name: t})
        return created, t

    created, t = await compute(request, work)
    return json_response(tensor_info(name, t), 201 if created else 200)


@router.patch("/tensors/{name}", response_model=TensorInfo, responses=ERRORS)
async def patch_tensor(session: SessionDep, name: NamePath, body: TensorPatch) -> Response:
    """``requires_grad_()``: false on a non-leaf is 400 not_leaf; true there changes nothing."""
    t = lookup(session, name)
    t.requires_grad_(body.requires_grad)
    return json_response(tensor_info(name, t))


@router.delete("/tensors/{name}", status_code=204, responses=ERRORS)
async def delete_tensor(request: Request, session: SessionDep, name: NamePath) -> Response:
    """Unbind the name (the tensor lives on while a graph still needs it)."""
    lookup(session, name)
    del session.names[name]
    await compute(request, lambda: measure(session))
    return Response(status_code=204)


@router.post("/zero_grad", status_code=204, responses=ERRORS)
async def zero_grad(
    request: Request, session: SessionDep, body: ZeroGradRequest | None = None
) -> Response:
    """Set ``.grad`` to none (``set_to_none=True``) for the names, or for every tensor."""
    names = body.names if body is not None and body.names is not None else list(session.names)
    missing = [n for n in names if n not in session.names]
    if missing:
        raise ApiError(400, "unknown_name", f"names not bound: {missing}")
    for n in names:
        session.names[n].grad = None  # bytes only shrink: session.bytes stays a bound
    return Response(status_code=204)
