"""``/api/jobs``: submit, status, listing, cancel, retry, webhook log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query, Request
from fastapi.responses import JSONResponse, Response

from jobq.models import JobSpec, JobStatus
from jobq_api.routes.common import SubjectId, api_router, envelope
from jobq_api.schemas import (
    SUBMIT_EXAMPLES,
    CancelRequest,
    DeliveriesResponse,
    JobActionResponse,
    JobListResponse,
    JobResponse,
    SubmitResponse,
)
from jobq_api.state import api_state

router = api_router("/api/jobs", "jobs", 400, 404, 409, 413, 503)


@router.post("/submit", response_model=SubmitResponse, summary="Submit a job")
async def submit_job(
    request: Request, spec: Annotated[JobSpec, Body(openapi_examples=SUBMIT_EXAMPLES)]
) -> Response:
    """Validate the job against the catalog of job types and queue it.

    A job that names no `requirements` gets its type's defaults. With an
    `idempotency_key`, submitting again returns the first job (`duplicate: true`).
    """
    result = await api_state(request).broker.submit(spec)
    return JSONResponse(
        {
            "success": True,
            "job_id": result.job_id,
            "status": "submitted",
            "duplicate": result.duplicate,
        }
    )


@router.get("/{job_id}/status", response_model=JobResponse, summary="A job's status")
async def job_status(request: Request, job_id: SubjectId) -> Response:
    """The job with its status, progress (0-100), result, error and retry history."""
    job = await api_state(request).broker.get_job(job_id)
    return envelope("job", job)


@router.get("", response_model=JobListResponse, summary="List jobs")
async def list_jobs(
    request: Request,
    status: Annotated[JobStatus | None, Query(description="only jobs in this status")] = None,
    type: Annotated[
        str | None, Query(min_length=1, max_length=128, description="only jobs of this type")
    ] = None,
    worker: Annotated[
        str | None, Query(min_length=1, max_length=256, description="only jobs this worker claimed")
    ] = None,
    workflow: Annotated[
        str | None, Query(min_length=1, max_length=256, description="only this workflow's steps")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="jobs per page")] = 50,
    cursor: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{1,20}$", description="`next_cursor` of the previous page"),
    ] = None,
) -> Response:
    """Jobs newest first (a workflow's steps in step order), filtered, one page at a time.

    Pages follow submission order, so they stay correct while jobs change state; a page
    may hold fewer than `limit` jobs while `next_cursor` is not null.
    """
    page = await api_state(request).broker.list_jobs(
        status=status,
        job_type=type,
        worker_id=worker,
        workflow_id=workflow,
        limit=limit,
        cursor=cursor,
    )
    jobs = b",".join(job.model_dump_json().encode() for job in page.jobs)
    cursor_json = b"null" if page.next_cursor is None else b'"%s"' % page.next_cursor.encode()
    body = b'{"success":true,"jobs":[%s],"next_cursor":%s}' % (jobs, cursor_json)
    return Response(body, media_type="application/json")


@router.post("/{job_id}/cancel", response_model=JobActionResponse, summary="Cancel a job")
async def cancel_job(
    request: Request, job_id: SubjectId, body: CancelRequest | None = None
) -> Response:
    """Cancel a job that has not finished; a running job is stopped by its worker."""
    reason = body.reason if body is not None else CancelRequest().reason
    previous = await api_state(request).broker.cancel(job_id, reason=reason)
    return JSONResponse(
        {
            "success": True,
            "job_id": job_id,
            "status": JobStatus.CANCELLED,
            "previous_status": previous,
        }
    )


@router.post("/{job_id}/retry", response_model=JobActionResponse, summary="Retry a job")
async def retry_job(request: Request, job_id: SubjectId) -> Response:
    """Run a failed or cancelled job again, with a fresh retry budget."""
    status = await api_state(request).broker.retry(job_id)
    return JSONResponse({"success": True, "job_id": job_id, "status": status})


@router.get(
    "/{job_id}/webhooks", response_model=DeliveriesResponse, summary="A job's webhook deliveries"
)
async def job_webhooks(request: Request, job_id: SubjectId) -> Response:
    """Every delivery attempt of the job's webhook, oldest first."""
    state = api_state(request)
    await state.broker.get_job(job_id)
    return await deliveries(request, job_id)


async def deliveries(request: Request, subject_id: str) -> Response:
    """The delivery log of a job or workflow as a response."""
    state = api_state(request)
    entries = await state.webhook_log(subject_id)
    return JSONResponse({"success": True, "deliveries": entries})
