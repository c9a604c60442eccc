"""The SDK, async and sync."""

from __future__ import annotations

import asyncio

import pytest

from jobq.broker import Broker
from jobq.client import Client, JobFailed, SyncClient
from jobq.models import JobStatus, WorkerCapabilities
from jobq.settings import CoreSettings

W = WorkerCapabilities(worker_id="w", capabilities=["simulation"])


async def serve_one(broker: Broker, *, fail: bool = False) -> None:
    while not (batch := await broker.claim(W)).jobs:
        await broker.read_events(batch.resume_from or "0-0", block=1)
    job = batch.jobs[0]
    if fail:
        await broker.fail(job.id, "nope", token=job.token, retryable=False)
    else:
        await broker.complete(job.id, {"echo": job.parameters}, token=job.token)


async def test_async_client_round_trip(client: Client, broker: Broker) -> None:
    job_id = await client.submit("simulation", parameters={"n": 1})
    server = asyncio.create_task(serve_one(broker))
    assert await client.result(job_id, timeout=5) == {"echo": {"n": 1}}
    await server
    assert (await client.get(job_id)).status is JobStatus.COMPLETED
    ids = await client.submit_many([{"type": "simulation"}, {"type": "simulation"}])
    page = await client.list(status="pending")
    assert {j.id for j in page.jobs} == set(ids)
    assert await client.cancel(ids[0]) is JobStatus.PENDING
    assert await client.retry(ids[0]) is JobStatus.PENDING
    created = await client.create_workflow({"name": "w", "steps": [{"type": "simulation"}]})
    assert (await client.get_workflow(created.workflow_id)).workflow.total_steps == 1


async def test_result_of_a_failed_job_raises(client: Client, broker: Broker) -> None:
    job_id = await client.submit("simulation")
    server = asyncio.create_task(serve_one(broker, fail=True))
    with pytest.raises(JobFailed, match="failed: nope"):
        await client.result(job_id, timeout=5)
    await server


def test_sync_client(core_settings: CoreSettings) -> None:
    with SyncClient(core_settings.redis_url, settings=core_settings) as jobq:
        job_id = jobq.submit("simulation")
        assert jobq.get(job_id).status is JobStatus.PENDING
        assert [j.id for j in jobq.list().jobs] == [job_id]
        assert jobq.submit_many([{"type": "simulation"}])
        assert jobq.cancel(job_id) is JobStatus.PENDING
        assert jobq.retry(job_id) is JobStatus.PENDING
        created = jobq.create_workflow({"name": "w", "steps": [{"type": "simulation"}]})
        assert jobq.get_workflow(created.workflow_id).workflow.name == "w"
        jobq.cancel(created.job_ids[0])
        with pytest.raises(JobFailed):
            jobq.result(created.job_ids[0], timeout=1)
        assert jobq.wait(created.job_ids[0], timeout=1).status is JobStatus.CANCELLED
