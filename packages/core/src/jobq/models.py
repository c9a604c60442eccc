"""Job, worker and workflow models (pydantic v2) shared by every jobq component."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

JsonObject = dict[str, Any]


class JobStatus(StrEnum):
    """The states of a job (SPEC section 4)."""

    WAITING = "waiting"  #: a workflow step whose parents are not all completed
    PENDING = "pending"  #: ready to be claimed
    DELAYED = "delayed"  #: scheduled for later, or backing off before a retry
    ASSIGNED = "assigned"  #: claimed by a worker, not started yet
    RUNNING = "running"  #: the worker reported progress or started it
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: States a job never leaves on its own (only a manual retry revives failed/cancelled).
TERMINAL_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
)
#: States in which a worker holds a lease on the job.
LEASED_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.ASSIGNED, JobStatus.RUNNING})


class WorkflowStatus(StrEnum):
    """The states of a workflow."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


def _sorted_unique(values: list[str]) -> list[str]:
    return sorted(set(values))


Name = Annotated[str, Field(min_length=1, max_length=128)]


class Requirements(BaseModel):
    """What a job needs from a worker. Everything except ``expected_duration`` is matched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpu_memory: float = Field(0, ge=0, le=4096, description="GPU memory needed, in GB")
    model_type: Name | None = Field(None, description="must be in the worker's model_types")
    capabilities: list[Name] = Field(
        default_factory=list, description="must all be in the worker's capabilities"
    )
    pool_preference: Name | None = Field(
        None, description='preferred pool ("fast-lane", "standard", "heavy", ...)'
    )
    pool_strict: bool = Field(False, description="never run outside the preferred pool")
    expected_duration: float | None = Field(None, ge=0, description="seconds; informational")
    customer_id: Name | None = Field(None, description="the customer the job belongs to")
    isolation: Literal["shared", "dedicated"] = Field(
        "shared", description='"dedicated": only workers that list the customer as allowed'
    )
    service: Name | None = Field(None, description="must be in the worker's services")

    _normalize = field_validator("capabilities")(_sorted_unique)


class WorkerCapabilities(BaseModel):
    """What a worker offers; the input of matching and of the worker registry."""

    model_config = ConfigDict(extra="ignore")

    worker_id: Name
    machine_id: str | None = None
    gpu_memory: float = Field(0, ge=0)
    gpu_name: str | None = None
    model_types: list[Name] = Field(default_factory=list)
    capabilities: list[Name] = Field(default_factory=list)
    services: list[Name] = Field(default_factory=list)
    pool_type: Name | None = None
    customers_allowed: list[Name] = Field(
        default_factory=list, description="empty: any customer (except dedicated ones)"
    )
    customers_denied: list[Name] = Field(default_factory=list)
    concurrency: int = Field(1, ge=1)

    _normalize = field_validator(
        "model_types", "capabilities", "services", "customers_allowed", "customers_denied"
    )(_sorted_unique)


class JobSpec(BaseModel):
    """A job to submit. ``requirements`` default to the job type's catalog entry."""

    model_config = ConfigDict(extra="forbid")

    type: Name
    prompt: str | None = Field(None, max_length=100_000)
    parameters: JsonObject = Field(default_factory=dict)
    priority: int = Field(50, ge=0, le=100, description="0-100, higher first")
    requirements: Requirements | None = None
    max_retries: int = Field(3, ge=0, le=100, description="retries after the first attempt")
    retry_backoff: float = Field(1.0, ge=0, le=3600, description="first retry delay, seconds")
    timeout: float | None = Field(None, gt=0, le=7 * 86400, description="seconds per attempt")
    webhook_url: str | None = Field(None, max_length=2048, pattern=r"^https?://")
    idempotency_key: str | None = Field(None, min_length=1, max_length=256)
    delay: float | None = Field(None, ge=0, le=365 * 86400, description="run after N seconds")
    run_at: datetime | None = Field(None, description="run at (or after) this time")
    metadata: JsonObject = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_schedule(self) -> JobSpec:
        if self.delay is not None and self.run_at is not None:
            raise ValueError("give either delay or run_at, not both")
        return self


class Attempt(BaseModel):
    """One failed attempt, kept for the retry history."""

    attempt: int
    error: str
    worker_id: str | None = None
    at: datetime


class Job(BaseModel):
    """A job as stored, decoded for readers (API, SDK, monitor)."""

    id: str
    type: str
    status: JobStatus
    priority: int
    prompt: str | None = None
    parameters: JsonObject = Field(default_factory=dict)
    requirements: Requirements = Field(default_factory=Requirements)
    metadata: JsonObject = Field(default_factory=dict)
    progress: int = 0
    progress_message: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    run_at: datetime | None = None
    result: JsonObject | None = None
    error: str | None = None
    retry_count: int = 0
    max_retries: int = 0
    timeout: float | None = None
    worker_id: str | None = None
    webhook_url: str | None = None
    idempotency_key: str | None = None
    workflow_id: str | None = None
    step_index: int | None = None
    depends_on: list[str] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        """True once the job is completed, failed or cancelled."""
        return self.status in TERMINAL_STATUSES


class ClaimedJob(Job):
    """A job handed to a worker, with the fencing token its later calls must carry."""

    token: int


class SubmitResult(BaseModel):
    """The outcome of one submission."""

    job_id: str
    duplicate: bool = False


class JobPage(BaseModel):
    """One page of a job listing; pass ``next_cursor`` back to get the next page."""

    jobs: list[Job]
    next_cursor: str | None = None


class WorkflowStepSpec(JobSpec):
    """A job in a workflow; ``depends_on`` names earlier or later steps by index."""

    depends_on: int | list[int] = Field(default_factory=list)

    def parent_indices(self) -> list[int]:
        """The dependency indices as a sorted, de-duplicated list."""
        raw = [self.depends_on] if isinstance(self.depends_on, int) else self.depends_on
        return sorted(set(raw))


class WorkflowSpec(BaseModel):
    """A workflow to create: a DAG of steps."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: str | None = Field(None, max_length=10_000)
    steps: list[WorkflowStepSpec] = Field(min_length=1, max_length=1000)
    webhook_url: str | None = Field(None, max_length=2048, pattern=r"^https?://")


class WorkflowCreated(BaseModel):
    """The ids of a created workflow and of its step jobs (in step order)."""

    workflow_id: str
    job_ids: list[str]


class Workflow(BaseModel):
    """A workflow's summary."""

    id: str
    name: str
    description: str | None = None
    status: WorkflowStatus
    total_steps: int
    completed_steps: int
    progress_percentage: float
    created_at: datetime
    completed_at: datetime | None = None
    webhook_url: str | None = None
    error: str | None = None


class WorkflowStep(BaseModel):
    """One step of a workflow as shown in its status."""

    job_id: str
    index: int
    type: str
    status: JobStatus
    progress: int
    depends_on: list[int]
    result: JsonObject | None = None
    error: str | None = None


class WorkflowState(BaseModel):
    """A workflow with its steps."""

    workflow: Workflow
    steps: list[WorkflowStep]


class WorkerInfo(BaseModel):
    """A registered worker as seen by readers."""

    capabilities: WorkerCapabilities
    status: Literal["online", "offline"]
    last_seen: datetime | None
    heartbeat_age: float | None
    current_jobs: list[str]


class Event(BaseModel):
    """One entry of the event stream."""

    event_id: str
    type: str
    timestamp: datetime
    job_id: str | None = None
    workflow_id: str | None = None
    worker_id: str | None = None
    data: JsonObject = Field(default_factory=dict)

    def to_message(self) -> JsonObject:
        """The flat JSON object sent to WebSocket clients and webhooks: the event's
        data fields, then ``type``, ``event_id``, ``timestamp`` and the subject ids,
        which always win over data fields of the same name."""
        message: JsonObject = dict(self.data)
        message.update(type=self.type, event_id=self.event_id, timestamp=self.timestamp.isoformat())
        for name in ("job_id", "workflow_id", "worker_id"):
            value = getattr(self, name)
            if value is not None:
                message[name] = value
        return message


class QueueDepth(BaseModel):
    """Pending jobs of one requirement shape."""

    shape_id: str
    requirements: Requirements
    pending: int
    runnable_by: list[str] = Field(
        default_factory=list, description="online workers that can run this shape"
    )


class QueueStats(BaseModel):
    """Queue depths per shape and per pool, and job counts per state."""

    shapes: list[QueueDepth]
    pools: dict[str, int]
    delayed: int
    by_status: dict[str, int]


def ms_to_datetime(value: str | int | None) -> datetime | None:
    """Epoch milliseconds (as stored in Redis) to an aware UTC datetime."""
    if value in (None, "", b""):
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
