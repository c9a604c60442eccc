"""The API's FastAPI application: :func:`create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from jobq.broker import Broker
from jobq_api import __version__, errors
from jobq_api.auth import ApiKeyMiddleware, document_security
from jobq_api.body import BodyLimit, StrictJsonRoute
from jobq_api.routes import fleet, internal, jobs, workflows
from jobq_api.settings import ApiSettings
from jobq_api.state import ApiState
from jobq_api.ws import router as ws_router

DESCRIPTION = """\
Submit jobs to jobq, follow them, and run workflows (DAGs of jobs).

Every route except `/health` and `/ready` needs an API key (one of `JOBQ_API_KEYS`) in the
`x-api-key` header. Errors always have the shape
`{"success": false, "error": {"code": "...", "message": "..."}}`; bad input is a 400
`VALIDATION_ERROR` whose message names the field.

Live events: WebSocket `/ws` (see the README of jobq-api); webhooks: jobs and workflows
may name a `webhook_url` that receives signed POSTs of their terminal events.
"""


def create_app(settings: ApiSettings | None = None, *, broker: Broker | None = None) -> FastAPI:
    """The jobq API. ``broker``: share an existing broker (it is not closed on shutdown)."""
    settings = settings or ApiSettings()
    state = ApiState(settings, broker)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="jobq API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "jobs", "description": "Submit, inspect, cancel and retry jobs"},
            {"name": "workflows", "description": "DAGs of jobs"},
            {"name": "internal", "description": "For executors that report over HTTP"},
            {"name": "fleet", "description": "Workers, queues, health and metrics"},
        ],
    )
    app.state.jobq = state
    app.router.route_class = StrictJsonRoute
    errors.install(app)
    for module in (jobs, workflows, internal, fleet):
        app.include_router(module.router)
    app.include_router(fleet.probes)
    app.include_router(ws_router)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=state.keys)  # outermost: before the body
    _document(app)
    return app


def _document(app: FastAPI) -> None:
    """Finish the OpenAPI document: the API key (checked by a middleware, so FastAPI does
    not see it), and no 422 entries (this API answers bad input with 400 and the error
    envelope, documented on each route)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            document_security(schema)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
