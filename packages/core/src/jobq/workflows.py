"""Workflows: DAGs of jobs. Validation happens here; the state machine runs in Lua."""

from __future__ import annotations

from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from jobq import codec
from jobq.catalog import parse_spec
from jobq.errors import ValidationFailed, WorkflowNotFound
from jobq.models import WorkflowCreated, WorkflowSpec, WorkflowState, WorkflowStep

if TYPE_CHECKING:
    from jobq.broker import Broker


def check_dag(spec: WorkflowSpec) -> list[list[int]]:
    """Each step's parent indices; :class:`ValidationFailed` for bad indices or a cycle."""
    count = len(spec.steps)
    parents: list[list[int]] = []
    for index, step in enumerate(spec.steps):
        deps = step.parent_indices()
        for dep in deps:
            if not 0 <= dep < count:
                raise ValidationFailed(
                    f"validation failed: steps.{index}.depends_on: step {dep} does not exist "
                    f"(steps are numbered 0-{count - 1})"
                )
            if dep == index:
                raise ValidationFailed(
                    f"validation failed: steps.{index}.depends_on: a step cannot depend on itself"
                )
        parents.append(deps)
    try:
        tuple(TopologicalSorter(dict(enumerate(parents))).static_order())
    except CycleError as exc:
        cycle = " -> ".join(str(i) for i in exc.args[1])
        raise ValidationFailed(f"validation failed: steps.depends_on: cycle {cycle}") from None
    return parents


async def create_workflow(broker: Broker, raw: WorkflowSpec | Mapping[str, Any]) -> WorkflowCreated:
    """Validate and create a workflow and all its steps in one atomic call."""
    from jobq.broker import new_id

    spec = raw if isinstance(raw, WorkflowSpec) else parse_spec(WorkflowSpec, raw)
    parents = check_dag(spec)
    job_ids = [new_id() for _ in spec.steps]
    children: list[list[str]] = [[] for _ in spec.steps]
    for index, deps in enumerate(parents):
        for dep in deps:
            children[dep].append(job_ids[index])
    workflow_id = new_id()
    argv: list[str | int] = [
        workflow_id,
        codec.dumps(spec.model_dump(include={"name", "description", "webhook_url"})),
        broker.settings.events_maxlen,
        round(broker.settings.retention_seconds * 1000),
        len(spec.steps),
    ]
    for index, step in enumerate(spec.steps):
        checked, shape = broker.catalog.prepare(step)
        argv.extend(
            codec.submit_fields(
                job_ids[index],
                checked,
                shape,
                workflow_id=workflow_id,
                step_index=index,
                parents=[job_ids[p] for p in parents[index]],
                dependents=children[index],
            )
        )
    await broker._fcall("jobq_workflow_create", *argv)
    return WorkflowCreated(workflow_id=workflow_id, job_ids=job_ids)


async def get_workflow(broker: Broker, workflow_id: str) -> WorkflowState:
    """A workflow and the state of each step; :class:`WorkflowNotFound` if unknown."""
    async with broker.redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(broker.keys.workflow(workflow_id))
        pipe.zrange(broker.keys.index_workflow(workflow_id), 0, -1)
        record, job_ids = await pipe.execute()
    if not record:
        raise WorkflowNotFound(f"Workflow not found: {workflow_id}")
    index_of = {job_id: i for i, job_id in enumerate(job_ids)}
    steps = []
    for job in await broker.get_jobs(job_ids):
        if job is None:
            continue
        steps.append(
            WorkflowStep(
                job_id=job.id,
                index=job.step_index if job.step_index is not None else 0,
                type=job.type,
                status=job.status,
                progress=job.progress,
                depends_on=[index_of[p] for p in job.depends_on if p in index_of],
                result=job.result,
                error=job.error,
            )
        )
    return WorkflowState(workflow=codec.workflow_from_hash(record), steps=steps)


async def job_completed(
    broker: Broker, workflow_id: str, job_id: str, result: Mapping[str, Any] | None
) -> bool:
    """The explicit "step completed" notification: idempotent. True if it completed the job."""
    job = await broker.get_job(job_id)
    if job.workflow_id != workflow_id:
        raise ValidationFailed(
            f"validation failed: job {job_id} is not a step of workflow {workflow_id}"
        )
    return await broker.complete(job_id, result, idempotent=True)
