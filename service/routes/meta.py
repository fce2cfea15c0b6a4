"""Ops, backends, health and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

import engine
from api_schema import BackendsResponse, OpsResponse

from ..deps import json_response
from ..executor import WIRE_OPS

router = APIRouter(tags=["meta"])
health = APIRouter(tags=["operations"])


def ops_listing() -> list[dict[str, Any]]:
    """Every op a graph node may name, from the engine's op table (in-place forms included)."""
    out = []
    for name, (op, inplace) in WIRE_OPS.items():
        spec = op.spec()
        del spec["wire"]
        if inplace:
            spec["doc"] = f"in place on its first argument (torch's Tensor.{name}): {spec['doc']}"
        out.append({**spec, "name": name, "in_place": inplace})
    return sorted(out, key=lambda o: o["name"])


@router.get("/v1/ops", response_model=OpsResponse)
async def list_ops() -> Response:
    """The op set: names, torch signatures, kwargs, dtypes, PyTorch's grad_fn names and docs,
    with the op table's version (the client compares it with its own on connect)."""
    return json_response({"version": engine.table_version(), "ops": ops_listing()})


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
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
