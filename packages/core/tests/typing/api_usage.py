"""Type-checked, never run: the public API's types are a test (mypy --strict).

If a change to the SDK's signatures breaks this file, it breaks users too.
"""

from __future__ import annotations

from typing import Any

from jobq import (
    Broker,
    ClaimBatch,
    Client,
    Job,
    JobStatus,
    Requirements,
    SyncClient,
    WorkerCapabilities,
    can_run,
)


async def sdk(client: Client) -> dict[str, Any]:
    job_id: str = await client.submit("text-to-image", prompt="a fox", priority=80)
    ids: list[str] = await client.submit_many([{"type": "simulation"}])
    job: Job = await client.wait(job_id, timeout=10)
    status: JobStatus = job.status
    assert status in JobStatus
    assert ids
    page = await client.list(status="completed", limit=10)
    for item in page.jobs:
        assert item.progress >= 0
    return await client.result(job_id)


async def worker_side(broker: Broker) -> None:
    me = WorkerCapabilities(worker_id="w", capabilities=["simulation"], gpu_memory=24)
    batch: ClaimBatch = await broker.claim(me, max_jobs=4)
    for claimed in batch.jobs:
        token: int = claimed.token
        await broker.progress(claimed.id, 50, token=token, message="halfway")
        await broker.complete(claimed.id, {"ok": True}, token=token)
    lost: dict[str, str] = await broker.heartbeat("w", {})
    assert isinstance(lost, dict)
    assert can_run(me, Requirements(capabilities=["simulation"]))


def blocking() -> None:
    with SyncClient("redis://localhost:6379/0") as jobq:
        job: Job = jobq.wait(jobq.submit("simulation"))
        assert job.is_terminal
