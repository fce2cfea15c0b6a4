"""Ops, backends, health and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

import engine
from api_schema import BackendsResponse, OpsResponse

from ..deps import json_response
from ..executor import SPECIAL_OPS

router = APIRouter(tags=["meta"])
health = APIRouter(tags=["operations"])


def ops_listing() -> list[dict[str, Any]]:
    """Every op a graph node may name, from the engine's op table."""
    out = [
        {
            "name": op.name,
            "arity": op.arity,
            "kwargs": op.kwargs,
            "dtypes": op.dtypes,
            "differentiable": op.differentiable,
            "grad_fns": list(op.grad_fns),
            "doc": op.doc,
        }
        for op in engine.public_ops()
    ]
    for name, doc in SPECIAL_OPS.items():
        out.append(
            {
                "name": name,
                "arity": 1 if name in ("grad_of", "zero_") else 2,
                "kwargs": {"alpha": 1} if name in ("add_", "sub_") else {},
                "dtypes": "any",
                "differentiable": name != "grad_of",
                "grad_fns": [],
                "doc": doc,
            }
        )
    return sorted(out, key=lambda o: o["name"])


@router.get("/v1/ops", response_model=OpsResponse)
async def list_ops() -> Response:
    """The op set: names, arity, kwargs, dtypes and PyTorch's grad_fn names."""
    return json_response({"ops": ops_listing()})


@router.get("/v1/backends", response_model=BackendsResponse)
async def list_backends() -> Response:
    """Which array backends work here, with device info."""
    return json_response({"backends": engine.backends()})


@health.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive."""
    return {"status": "ok"}


@health.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready: the session store answers."""
    ok = await request.app.state.manager.ready()
    return json_response({"status": "ready" if ok else "unavailable"}, 200 if ok else 503)


@health.get("/metrics", include_in_schema=True)
async def metrics(request: Request) -> Response:
    """Prometheus text: requests by route and status, latency, live sessions, bytes held."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
