"""``/api/workflows``: create a workflow (a DAG of jobs), its status, its webhook log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Request
from fastapi.responses import JSONResponse, Response

from jobq.models import WorkflowSpec
from jobq_api.routes.common import SubjectId, api_router
from jobq_api.routes.jobs import deliveries
from jobq_api.schemas import (
    WORKFLOW_EXAMPLES,
    DeliveriesResponse,
    WorkflowCreatedResponse,
    WorkflowStatusResponse,
)
from jobq_api.state import api_state

router = api_router("/api/workflows", "workflows", 400, 404, 413, 503)


@router.post("/create", response_model=WorkflowCreatedResponse, summary="Create a workflow")
async def create_workflow(
    request: Request, spec: Annotated[WorkflowSpec, Body(openapi_examples=WORKFLOW_EXAMPLES)]
) -> Response:
    """Create every step's job at once. `depends_on` names other steps by index (an int or
    a list); steps with no dependencies start `pending`, the others `waiting` until all
    their parents completed."""
    created = await api_state(request).broker.create_workflow(spec)
    return JSONResponse(
        {"success": True, "workflow_id": created.workflow_id, "job_ids": created.job_ids}
    )


@router.get(
    "/{workflow_id}/status", response_model=WorkflowStatusResponse, summary="A workflow's status"
)
async def workflow_status(request: Request, workflow_id: SubjectId) -> Response:
    """The workflow (status, steps done, `progress_percentage`) and each step's state."""
    state = await api_state(request).broker.get_workflow(workflow_id)
    body = b'{"success":true,%s' % state.model_dump_json().encode()[1:]
    return Response(body, media_type="application/json")


@router.get(
    "/{workflow_id}/webhooks",
    response_model=DeliveriesResponse,
    summary="A workflow's webhook deliveries",
)
async def workflow_webhooks(request: Request, workflow_id: SubjectId) -> Response:
    """Every delivery attempt of the workflow's webhook, oldest first."""
    await api_state(request).broker.get_workflow(workflow_id)
    return await deliveries(request, workflow_id)
