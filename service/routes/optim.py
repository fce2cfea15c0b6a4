"""/v1/sessions/{id}/optimizers: torch.optim optimizers whose state stays in the session.

``step`` and ``zero_grad`` move no parameter or state bytes: the request names the
optimizer (and, optionally, new group options such as a scheduler's ``lr``); the
response carries counts. ``GET .../state`` is the one call that returns values.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from api_schema import (
    Encoding,
    OptimizerCreate,
    OptimizerInfo,
    OptimizerState,
    OptimizerStep,
    OptimizerStepped,
    OptimizerZeroGrad,
    Problem,
)
from api_schema.tensors import NAME_PATTERN

from .. import optimizers
from ..deps import OrjsonRoute, SessionDep, SettingsDep, compute, json_response

router = APIRouter(
    prefix="/v1/sessions/{session_id}/optimizers", tags=["optimizers"], route_class=OrjsonRoute
)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem},
    401: {"model": Problem},
    404: {"model": Problem},
    422: {"model": Problem},
    507: {"model": Problem},
}
OptimizerPath = Annotated[str, Path(pattern=NAME_PATTERN, description="An optimizer's name.")]


@router.post("", status_code=201, response_model=OptimizerInfo, responses=ERRORS)
async def create_optimizer(
    request: Request, session: SessionDep, settings: SettingsDep, body: OptimizerCreate
) -> Response:
    """``torch.optim.<Kind>(params, **defaults)`` over the session's leaf tensors."""
    result = await compute(request, lambda: optimizers.create(session, settings, body))
    return json_response(result, 201)


@router.get("/{name}", response_model=OptimizerInfo, responses=ERRORS)
async def read_optimizer(session: SessionDep, name: OptimizerPath) -> Response:
    """Kind, groups with every option, steps taken and the state's bytes."""
    return json_response(optimizers.info(session, name))


@router.post("/{name}/step", response_model=OptimizerStepped, responses=ERRORS)
async def step_optimizer(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    name: OptimizerPath,
    body: OptimizerStep | None = None,
) -> Response:
    """``opt.step()``: update every parameter that has a ``.grad``, in the session."""
    groups = None if body is None else body.param_groups
    result = await compute(request, lambda: optimizers.step(session, settings, name, groups))
    return json_response(result)


@router.post("/{name}/zero_grad", status_code=204, responses=ERRORS)
async def zero_grad_optimizer(
    session: SessionDep, name: OptimizerPath, body: OptimizerZeroGrad | None = None
) -> Response:
    """``opt.zero_grad(set_to_none=True)`` on the optimizer's parameters."""
    optimizers.zero_grad(session, name, True if body is None else body.set_to_none)
    return Response(status_code=204)


@router.get("/{name}/state", response_model=OptimizerState, responses=ERRORS)
async def read_optimizer_state(
    request: Request,
    session: SessionDep,
    name: OptimizerPath,
    encoding: Annotated[Encoding, Query(description="json or b64 for the state tensors.")] = "b64",
) -> Response:
    """``opt.state_dict()``: torch's layout, the state tensors' values included."""
    result = await compute(request, lambda: optimizers.read_state(session, name, encoding))
    return json_response(result)


@router.put("/{name}/state", response_model=OptimizerInfo, responses=ERRORS)
async def replace_optimizer_state(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    name: OptimizerPath,
    body: OptimizerState,
) -> Response:
    """``opt.load_state_dict(...)``: options and state in torch's layout (as GET returns)."""
    result = await compute(request, lambda: optimizers.load_state(session, settings, name, body))
    return json_response(result)


@router.delete("/{name}", status_code=204, responses=ERRORS)
async def delete_optimizer(session: SessionDep, name: OptimizerPath) -> Response:
    """Forget the optimizer and free its state."""
    optimizers.remove(session, name)
    return Response(status_code=204)
