"""``/api/internal``: progress, completion and failure reports from executors that speak
HTTP instead of using the core directly. With the claim's ``token`` the call is fenced: a
caller whose lease is gone gets 409 ``LEASE_LOST``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Request
from fastapi.responses import JSONResponse, Response

from jobq_api.routes.common import SubjectId, api_router
from jobq_api.schemas import (
    COMPLETE_EXAMPLES,
    FAIL_EXAMPLES,
    PROGRESS_EXAMPLES,
    CompleteRequest,
    FailRequest,
    FailResponse,
    JobActionResponse,
    ProgressRequest,
    StepCompletedRequest,
    StepCompletedResponse,
)
from jobq_api.state import api_state

router = api_router("/api/internal", "internal", 400, 404, 409, 413, 503)


@router.post("/jobs/{job_id}/progress", response_model=JobActionResponse, summary="Report progress")
async def report_progress(
    request: Request,
    job_id: SubjectId,
    body: Annotated[ProgressRequest, Body(openapi_examples=PROGRESS_EXAMPLES)],
) -> Response:
    """Progress 0-100; the first report moves an assigned job to `running`."""
    status = await api_state(request).broker.progress(
        job_id, body.progress, token=body.token, message=body.message
    )
    return JSONResponse({"success": True, "job_id": job_id, "status": status})


@router.post("/jobs/{job_id}/complete", response_model=JobActionResponse, summary="Complete")
async def report_complete(
    request: Request,
    job_id: SubjectId,
    body: Annotated[CompleteRequest, Body(openapi_examples=COMPLETE_EXAMPLES)],
) -> Response:
    """Finish the job with its result (a JSON object)."""
    await api_state(request).broker.complete(job_id, body.result, token=body.token)
    return JSONResponse({"success": True, "job_id": job_id, "status": "completed"})


@router.post("/jobs/{job_id}/fail", response_model=FailResponse, summary="Report a failure")
async def report_fail(
    request: Request,
    job_id: SubjectId,
    body: Annotated[FailRequest, Body(openapi_examples=FAIL_EXAMPLES)],
) -> Response:
    """A failed attempt: retried with backoff while retries remain and it is retryable."""
    will_retry = await api_state(request).broker.fail(
        job_id, body.error, token=body.token, retryable=body.retryable
    )
    return JSONResponse({"success": True, "job_id": job_id, "will_retry": will_retry})


@router.post(
    "/workflows/{workflow_id}/job-completed",
    response_model=StepCompletedResponse,
    summary="A workflow step completed",
)
async def step_completed(
    request: Request, workflow_id: SubjectId, body: StepCompletedRequest
) -> Response:
    """Complete a workflow step (idempotent: `completed` is false if it already was)."""
    completed = await api_state(request).broker.workflow_job_completed(
        workflow_id, body.job_id, body.result
    )
    return JSONResponse({"success": True, "job_id": body.job_id, "completed": completed})
