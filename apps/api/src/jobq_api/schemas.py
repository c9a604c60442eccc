"""Request and response bodies of the HTTP API (what the OpenAPI document shows).

Job and workflow submissions use the core's models (:class:`jobq.models.JobSpec`,
:class:`jobq.models.WorkflowSpec`) unchanged, so the API and the SDK accept the same input.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jobq.models import (
    Job,
    JobStatus,
    QueueStats,
    WorkerInfo,
    Workflow,
    WorkflowStep,
)

JsonObject = dict[str, Any]


def _token() -> Any:
    return Field(
        None,
        ge=0,
        le=2**53,
        description="the lease's fencing token from the claim; when given, a caller whose "
        "lease is gone is refused with 409 LEASE_LOST",
    )


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- requests
class CancelRequest(_Body):
    """Why the job is cancelled (optional)."""

    reason: str = Field("cancelled by request", max_length=1000)


class ProgressRequest(_Body):
    """A progress report from an executor."""

    progress: int = Field(ge=0, le=100, description="percent done, 0-100")
    message: str | None = Field(None, max_length=10_000)
    token: int | None = _token()


class CompleteRequest(_Body):
    """A job's result."""

    result: JsonObject = Field(default_factory=dict, description="the result, a JSON object")
    token: int | None = _token()


class FailRequest(_Body):
    """A failed attempt."""

    error: str = Field(min_length=1, max_length=10_000)
    retryable: bool = Field(True, description="false: fail for good, no retry")
    token: int | None = _token()


class StepCompletedRequest(_Body):
    """A workflow step finished (idempotent)."""

    job_id: str = Field(min_length=1, max_length=256)
    result: JsonObject = Field(default_factory=dict)


# ---------------------------------------------------------------- responses
class SubmitResponse(BaseModel):
    """A job was accepted."""

    success: Literal[True] = True
    job_id: str
    status: Literal["submitted"] = "submitted"
    duplicate: bool = Field(
        False, description="true when the idempotency key named an existing job"
    )


class JobResponse(BaseModel):
    """One job."""

    success: Literal[True] = True
    job: Job


class JobListResponse(BaseModel):
    """One page of jobs, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    success: Literal[True] = True
    jobs: list[Job]
    next_cursor: str | None = None


class JobActionResponse(BaseModel):
    """The outcome of an action on a job."""

    success: Literal[True] = True
    job_id: str
    status: JobStatus = Field(description="the job's status now")
    previous_status: JobStatus | None = None


class FailResponse(BaseModel):
    """The outcome of a failed attempt."""

    success: Literal[True] = True
    job_id: str
    will_retry: bool


class StepCompletedResponse(BaseModel):
    """``completed`` is false when the step had already been completed."""

    success: Literal[True] = True
    job_id: str
    completed: bool


class WorkflowCreatedResponse(BaseModel):
    """A workflow was created; ``job_ids`` are its steps' jobs, in step order."""

    success: Literal[True] = True
    workflow_id: str
    job_ids: list[str]


class WorkflowStatusResponse(BaseModel):
    """A workflow and its steps."""

    success: Literal[True] = True
    workflow: Workflow
    steps: list[WorkflowStep]


class WorkersResponse(BaseModel):
    """The registered workers."""

    success: Literal[True] = True
    workers: list[WorkerInfo]


class QueuesResponse(BaseModel):
    """Queue depths per requirement shape and pool, job counts per status."""

    success: Literal[True] = True
    queues: QueueStats


class DeliveryAttempt(BaseModel):
    """One webhook delivery attempt (or the give-up after the last)."""

    delivery_id: str
    event_id: str
    event_type: str
    url: str
    attempt: int
    outcome: Literal["delivered", "retrying", "failed"]
    status_code: int | None = None
    error: str | None = None
    at: str = Field(description="ISO 8601 time of the attempt")
    next_attempt_at: str | None = None


class DeliveriesResponse(BaseModel):
    """The webhook delivery log of a job or a workflow, oldest first."""

    success: Literal[True] = True
    deliveries: list[DeliveryAttempt]


class HealthResponse(BaseModel):
    """The process is alive."""

    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    """The process can serve: Redis answers and the function library is loaded."""

    status: Literal["ready"] = "ready"


# ---------------------------------------------------------------- examples
SUBMIT_EXAMPLES: dict[str, Any] = {
    "text-to-image": {
        "summary": "An image from a prompt",
        "value": {
            "type": "text-to-image",
            "prompt": "A serene landscape",
            "parameters": {"width": 512, "height": 512, "steps": 20},
            "priority": 60,
        },
    },
    "upscale": {
        "summary": "Upscale with explicit requirements and a webhook",
        "value": {
            "type": "upscale",
            "parameters": {"scale_factor": 2},
            "requirements": {"gpu_memory": 8, "capabilities": ["upscale"]},
            "webhook_url": "https://example.com/hooks/jobq",
        },
    },
    "simulation": {
        "summary": "A demo job (no prompt needed)",
        "value": {"type": "simulation", "parameters": {"duration": 2, "steps": 5}},
    },
}

WORKFLOW_EXAMPLES: dict[str, Any] = {
    "generate-and-upscale": {
        "summary": "Generate an image, then upscale it",
        "value": {
            "name": "Image Generation Workflow",
            "description": "Generate and upscale images",
            "steps": [
                {"type": "text-to-image", "prompt": "A beautiful landscape"},
                {"type": "upscale", "parameters": {"scale_factor": 2}, "depends_on": 0},
            ],
            "webhook_url": "https://example.com/hooks/jobq",
        },
    }
}

PROGRESS_EXAMPLES: dict[str, Any] = {
    "halfway": {"summary": "Half done", "value": {"progress": 50, "message": "step 10/20"}},
    "fenced": {"summary": "With the lease token", "value": {"progress": 80, "token": 17}},
}
COMPLETE_EXAMPLES: dict[str, Any] = {
    "image": {"value": {"result": {"image_url": "https://example.com/out.png"}, "token": 17}}
}
FAIL_EXAMPLES: dict[str, Any] = {
    "retryable": {"value": {"error": "CUDA out of memory", "retryable": True}},
    "for-good": {"value": {"error": "prompt rejected by the model", "retryable": False}},
}
