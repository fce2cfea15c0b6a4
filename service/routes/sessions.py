"""/v1/sessions: create, read, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from starlette.responses import Response

from api_schema import Problem, SessionCreate, SessionCreated, SessionInfo

from ..clients import ClientLimits, client_key
from ..deps import (
    ApiKeyDep,
    ManagerDep,
    OrjsonRoute,
    SessionDep,
    SettingsDep,
    compute,
    json_response,
)
from ..optimizers import is_reserved
from ..sessions import Session, measure

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], route_class=OrjsonRoute)
ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": Problem}, 404: {"model": Problem}}


def session_info(session: Session, settings: object) -> dict[str, object]:
    s = settings
    return {
        "session_id": session.id,
        "backend": session.backend.name,
        "device": session.backend.device,
        "expires_at": session.expires_at_iso().isoformat(),
        "tensor_count": sum(1 for n in session.names if not is_reserved(n)),
        "bytes": session.bytes,
        "limits": {
            "max_tensor_elements": s.max_tensor_elements,  # type: ignore[attr-defined]
            "max_session_bytes": s.max_session_bytes,  # type: ignore[attr-defined]
            "max_nodes_per_request": s.max_nodes_per_request,  # type: ignore[attr-defined]
            "max_body_bytes": s.max_body_bytes,  # type: ignore[attr-defined]
            "ttl_seconds": session.ttl_seconds,
        },
    }


@router.post(
    "",
    status_code=201,
    response_model=SessionCreated,
    dependencies=[ApiKeyDep],
    responses={s: {"model": Problem} for s in (400, 401, 429, 503)},
)
async def create_session(
    request: Request,
    manager: ManagerDep,
    settings: SettingsDep,
    body: SessionCreate | None = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Open a session; keep the token: every call on the session needs it."""
    body = body or SessionCreate()
    limits: ClientLimits = request.app.state.client_limits
    client = client_key(request, x_api_key if settings.api_keys else None)
    request.app.state.server_budget.check_new()  # 503 while the server is at its budget
    limits.admit(client)
    ttl = body.ttl_seconds
    if not settings.api_keys:  # anonymous: a session may not hold a slot for a day
        ttl = min(ttl or settings.default_ttl_seconds, settings.max_anonymous_ttl_seconds)
    session, token = await manager.create(body.backend, ttl, body.seed)
    limits.opened(client, session.id, session.expires_at)
    return json_response(
        {
            "session_id": session.id,
            "token": token,
            "backend": session.backend.name,
            "device": session.backend.device,
            "expires_at": session.expires_at_iso().isoformat(),
        },
        201,
    )


@router.get("/{session_id}", response_model=SessionInfo, responses=ERRORS)
async def read_session(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """What the session holds and the limits it runs under."""
    await compute(request, lambda: measure(session))
    return json_response(session_info(session, settings))


@router.delete("/{session_id}", status_code=204, responses=ERRORS)
async def delete_session(request: Request, session: SessionDep, manager: ManagerDep) -> Response:
    """Delete the session and free every byte of it."""
    await manager.delete(session)
    request.app.state.client_limits.closed(session.id)
    return Response(status_code=204)
