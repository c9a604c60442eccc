"""Workflows: chains, fan-out, fan-in, failure propagation, notifications."""

from __future__ import annotations

from typing import Any

import pytest

from jobq.broker import Broker
from jobq.errors import ValidationFailed, WorkflowNotFound
from jobq.models import JobStatus, WorkerCapabilities, WorkflowStatus

W = WorkerCapabilities(worker_id="w", capabilities=["simulation"])


def step(depends_on: int | list[int] | None = None, **fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "simulation", **fields}
    if depends_on is not None:
        spec["depends_on"] = depends_on
    return spec


async def run_next(broker: Broker, result: dict[str, Any] | None = None) -> str:
    batch = await broker.claim(W)
    assert len(batch.jobs) == 1
    job = batch.jobs[0]
    await broker.complete(job.id, result or {"step": job.step_index}, token=job.token)
    return job.id


async def statuses(broker: Broker, workflow_id: str) -> list[str]:
    return [s.status.value for s in (await broker.get_workflow(workflow_id)).steps]


async def test_chain_runs_in_order(broker: Broker) -> None:
    created = await broker.create_workflow({"name": "chain", "steps": [step(), step(0), step(1)]})
    assert await statuses(broker, created.workflow_id) == ["pending", "waiting", "waiting"]
    order = [await run_next(broker) for _ in range(3)]
    assert order == created.job_ids
    state = await broker.get_workflow(created.workflow_id)
    assert state.workflow.status is WorkflowStatus.COMPLETED
    assert (state.workflow.completed_steps, state.workflow.progress_percentage) == (3, 100.0)


async def test_fan_out_and_fan_in(broker: Broker) -> None:
    created = await broker.create_workflow(
        {"name": "diamond", "steps": [step(), step(0), step(0), step([1, 2])]}
    )
    root, left, right, join = created.job_ids
    await run_next(broker, {"from": "root"})
    assert await statuses(broker, created.workflow_id) == [
        "completed",
        "pending",
        "pending",
        "waiting",
    ]
    await run_next(broker, {"from": "left"})
    state = await broker.get_workflow(created.workflow_id)
    assert state.steps[3].status is JobStatus.WAITING  # fan-in waits for every parent
    assert state.workflow.progress_percentage == 50.0
    await run_next(broker, {"from": "right"})
    batch = await broker.claim(W)
    assert [j.id for j in batch.jobs] == [join]
    parents = await broker.parent_results(batch.jobs[0])
    assert parents == {left: {"from": "left"}, right: {"from": "right"}}
    assert root not in parents


async def test_failed_step_fails_workflow_and_cancels_descendants(broker: Broker) -> None:
    created = await broker.create_workflow(
        {"name": "f", "steps": [step(max_retries=0), step(0), step(1), step()]}
    )
    batch = await broker.claim(W, max_jobs=2)
    first = next(j for j in batch.jobs if j.step_index == 0)
    other = next(j for j in batch.jobs if j.step_index == 3)
    await broker.fail(first.id, "exploded", token=first.token)
    state = await broker.get_workflow(created.workflow_id)
    assert state.workflow.status is WorkflowStatus.FAILED
    assert "exploded" in (state.workflow.error or "")
    assert [s.status.value for s in state.steps] == ["failed", "cancelled", "cancelled", "assigned"]
    # An independent branch still finishes.
    await broker.complete(other.id, {}, token=other.token)
    # A manual retry of the failed step revives the workflow and its descendants.
    assert await broker.retry(first.id) is JobStatus.PENDING
    assert await statuses(broker, created.workflow_id) == [
        "pending",
        "waiting",
        "waiting",
        "completed",
    ]
    for _ in range(3):
        await run_next(broker)
    final = await broker.get_workflow(created.workflow_id)
    assert final.workflow.status is WorkflowStatus.COMPLETED


async def test_cancelled_step_cancels_descendants(broker: Broker) -> None:
    created = await broker.create_workflow({"name": "c", "steps": [step(), step(0)]})
    await broker.cancel(created.job_ids[0], reason="not needed")
    state = await broker.get_workflow(created.workflow_id)
    assert state.workflow.status is WorkflowStatus.FAILED
    assert [s.status.value for s in state.steps] == ["cancelled", "cancelled"]


async def test_job_completed_notification_is_idempotent(broker: Broker) -> None:
    created = await broker.create_workflow({"name": "n", "steps": [step(), step(0)]})
    first = (await broker.claim(W)).jobs[0]
    assert await broker.workflow_job_completed(created.workflow_id, first.id, {"a": 1}) is True
    assert await broker.workflow_job_completed(created.workflow_id, first.id, {"a": 2}) is False
    state = await broker.get_workflow(created.workflow_id)
    assert state.workflow.completed_steps == 1
    assert state.steps[0].result == {"a": 1}
    assert state.steps[1].status is JobStatus.PENDING
    with pytest.raises(ValidationFailed, match="not a step of workflow"):
        await broker.workflow_job_completed("other", first.id, {})


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([step(), step(5)], "steps.1.depends_on: step 5 does not exist"),
        ([step(0)], "cannot depend on itself"),
        ([step(1), step(0)], "cycle"),
        ([step(), step(-1)], "does not exist"),
        ([{"type": "nope"}], "unknown job type 'nope'"),
        ([], "steps"),
    ],
)
async def test_invalid_workflows_are_rejected(
    broker: Broker, steps: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        await broker.create_workflow({"name": "bad", "steps": steps})
    assert (await broker.list_jobs()).jobs == []


async def test_unknown_workflow(broker: Broker) -> None:
    with pytest.raises(WorkflowNotFound, match="Workflow not found: nope"):
        await broker.get_workflow("nope")
