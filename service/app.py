"""``create_app(settings)``: the FastAPI application."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api_schema import Problem, StatelessGradRequest
from api_schema import graph as graph_schema

from .budget import ServerBudget
from .clients import ClientLimits
from .errors import install_error_handlers
from .executor import WIRE_OPS
from .observability import Metrics, RequestMiddleware, configure_logging
from .openapi import install_openapi_fixes
from .routes import functional as functional_routes
from .routes import grad, graph, meta, optim, sessions, tensors, ui, viz
from .sessions import SessionManager
from .settings import Settings, get_settings

__all__ = ["create_app"]

DESCRIPTION = """
PyTorch's autograd over HTTP. Open a session, create tensors, send define-by-run graph
requests, call backward, read `.grad`. Every error is `application/problem+json` with a
stable `code`.
"""


def _ops_description() -> str:
    names = sorted(WIRE_OPS)
    return (
        "The op's wire name, one of: "
        + ", ".join(f"`{n}`" for n in names)
        + ". An unknown op is `400 unknown_op` (not a schema error); GET /v1/ops lists kwargs "
        "and grad_fn names."
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service, configured by ``settings`` (default: the ``GRADSERVE_*`` environment)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    manager = SessionManager(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await manager.start()
        # What exists now (modules, the app, its routes and schemas) lives as long as the
        # process: out of the cyclic collector's way. Every full collection would otherwise
        # walk it; a graph request of 1,000 nodes spent about a third of its time there.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            await manager.stop()
            app.state.metrics.process_exited()

    graph_schema.GraphNode.model_fields["op"].description = _ops_description()
    # the models that embed GraphNode copied its schema when built: rebuild them too
    for model in (graph_schema.GraphNode, graph_schema.GraphRequest, StatelessGradRequest):
        model.model_rebuild(force=True)

    app = FastAPIOffline(
        title="gradserve",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={422: {"model": Problem, "description": "The body does not match the schema"}},
    )
    app.state.settings = settings
    app.state.manager = manager
    app.state.limiter = anyio.CapacityLimiter(settings.compute_threads)
    app.state.client_limits = ClientLimits(settings)
    # the Redis store keeps sessions out of this process: only running requests count here
    in_process = settings.store == "memory"
    app.state.server_budget = ServerBudget(
        settings.max_server_bytes, lambda: manager.total_bytes() if in_process else 0
    )
    app.state.metrics = Metrics(manager)
    install_error_handlers(app)
    install_openapi_fixes(app)
    for module in (sessions, tensors, graph, grad, viz, optim):
        app.include_router(module.router)
    app.include_router(functional_routes.router)
    app.include_router(meta.router)
    app.include_router(ui.router)
    app.include_router(meta.health)
    app.add_middleware(
        RequestMiddleware, metrics=app.state.metrics, max_body_bytes=settings.max_body_bytes
    )
    return app
