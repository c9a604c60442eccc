"""Submitting: the catalog, defaults and overrides, idempotency, delays, batches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from jobq.broker import Broker
from jobq.errors import ValidationFailed
from jobq.models import JobStatus, WorkerCapabilities


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "text-to-image"}, "at body: 'prompt' is a required property"),
        ({"type": "image-to-image", "prompt": ""}, "at prompt"),
        ({"type": "upscale"}, "at parameters: 'scale_factor' is a required property"),
        ({"type": "upscale", "parameters": {"scale_factor": "big"}}, "parameters.scale_factor"),
        ({"type": "text-generation", "prompt": 5}, "prompt: Input should be a valid string"),
        ({"type": "warp-drive"}, "unknown job type 'warp-drive'"),
        ({"type": "simulation", "priority": 101}, "priority: Input should be less than"),
        ({"type": "simulation", "surprise": 1}, "surprise: Extra inputs are not permitted"),
        ({"type": "simulation", "delay": 1, "run_at": "2030-01-01T00:00:00Z"}, "either delay"),
        ({"type": "simulation", "requirements": {"gpu_memory": -1}}, "gpu_memory"),
        ({"prompt": "x"}, "type: Field required"),
    ],
)
async def test_bad_input_is_rejected_with_a_precise_message(
    broker: Broker, spec: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationFailed, match="validation failed") as info:
        await broker.submit(spec)
    assert message in info.value.message
    assert (await broker.list_jobs()).jobs == []


async def test_a_bad_job_in_a_batch_submits_nothing(broker: Broker) -> None:
    with pytest.raises(ValidationFailed):
        await broker.submit_many([{"type": "simulation"}, {"type": "upscale"}])
    assert (await broker.list_jobs()).jobs == []


async def test_type_defaults_and_overrides(broker: Broker) -> None:
    default = await broker.get_job(
        (await broker.submit({"type": "text-to-image", "prompt": "p"})).job_id
    )
    assert default.requirements.capabilities == ["text-to-image"]
    override = await broker.get_job(
        (
            await broker.submit(
                {
                    "type": "text-to-image",
                    "prompt": "p",
                    "requirements": {"gpu_memory": 12, "capabilities": ["sdxl"]},
                }
            )
        ).job_id
    )
    assert override.requirements.capabilities == ["sdxl"]
    assert override.requirements.gpu_memory == 12


async def test_idempotency_key_returns_the_first_job(broker: Broker) -> None:
    first = await broker.submit({"type": "simulation", "idempotency_key": "order-7"})
    again = await broker.submit({"type": "simulation", "idempotency_key": "order-7"})
    assert (again.job_id, again.duplicate) == (first.job_id, True)
    assert len((await broker.list_jobs()).jobs) == 1


async def test_delayed_jobs_run_when_due(broker: Broker) -> None:
    worker = WorkerCapabilities(worker_id="w", capabilities=["simulation"])
    later = await broker.submit({"type": "simulation", "delay": 0.1})
    at = await broker.submit(
        {"type": "simulation", "run_at": datetime.now(UTC) + timedelta(seconds=0.1)}
    )
    assert (await broker.get_job(later.job_id)).status is JobStatus.DELAYED
    assert (await broker.claim(worker)).jobs == []
    await asyncio.sleep(0.15)
    got = {j.id for j in (await broker.claim(worker, max_jobs=5)).jobs}
    assert got == {later.job_id, at.job_id}


async def test_batch_submit_in_chunks_keeps_order(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobq.broker.SUBMIT_CHUNK", 7)
    results = await broker.submit_many({"type": "simulation", "priority": 50} for _ in range(30))
    assert len({r.job_id for r in results}) == 30
    worker = WorkerCapabilities(worker_id="w", capabilities=["simulation"])
    claimed = [j.id for j in (await broker.claim(worker, max_jobs=30)).jobs]
    assert claimed == [r.job_id for r in results]
    assert await broker.submit_many([]) == []


async def test_listing_filters_and_cursor(broker: Broker) -> None:
    ids = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 7)]
    await broker.submit({"type": "text-generation", "prompt": "x"})
    page = await broker.list_jobs(job_type="simulation", limit=3)
    seen = [j.id for j in page.jobs]
    while page.next_cursor:
        # Jobs change state between pages; the cursor stays correct.
        await broker.claim(WorkerCapabilities(worker_id="w", capabilities=["simulation"]))
        page = await broker.list_jobs(job_type="simulation", limit=3, cursor=page.next_cursor)
        seen += [j.id for j in page.jobs]
    assert seen == ids[::-1]
    assigned = await broker.list_jobs(status=JobStatus.ASSIGNED)
    assert {j.status for j in assigned.jobs} == {JobStatus.ASSIGNED}
    by_worker = await broker.list_jobs(worker_id="w", status=JobStatus.ASSIGNED, limit=500)
    assert len(by_worker.jobs) == len(assigned.jobs)
    with pytest.raises(ValidationFailed, match="limit"):
        await broker.list_jobs(limit=0)
    with pytest.raises(ValidationFailed, match="cursor"):
        await broker.list_jobs(cursor="abc")


async def test_listing_a_workflows_steps_in_step_order(broker: Broker) -> None:
    created = await broker.create_workflow(
        {"name": "w", "steps": [{"type": "simulation"}, {"type": "simulation", "depends_on": 0}]}
    )
    page = await broker.list_jobs(workflow_id=created.workflow_id)
    assert [j.id for j in page.jobs] == created.job_ids
