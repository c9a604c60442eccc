"""The job lifecycle through the broker: submit -> assign -> progress -> complete,
failure -> retry -> claimed again, leases, fencing, cancel, release."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jobq.broker import Broker
from jobq.errors import InvalidState, JobNotFound, LeaseLost, ValidationFailed
from jobq.models import ClaimedJob, JobStatus, WorkerCapabilities

SIM = WorkerCapabilities(worker_id="w1", capabilities=["simulation"])


def sim(**fields: Any) -> dict[str, Any]:
    return {"type": "simulation", **fields}


async def claim_one(broker: Broker, worker: WorkerCapabilities = SIM, **kw: Any) -> ClaimedJob:
    batch = await broker.claim(worker, **kw)
    assert len(batch.jobs) == 1, batch
    return batch.jobs[0]


async def test_submit_assign_progress_complete(broker: Broker) -> None:
    submitted = await broker.submit(
        {"type": "text-to-image", "prompt": "A beautiful sunset", "priority": 50}
    )
    job = await broker.get_job(submitted.job_id)
    assert (job.status, job.type, job.prompt) == (
        JobStatus.PENDING,
        "text-to-image",
        "A beautiful sunset",
    )
    worker = WorkerCapabilities(worker_id="w1", machine_id="m1", capabilities=["text-to-image"])
    claimed = await claim_one(broker, worker)
    assert claimed.id == submitted.job_id
    assert claimed.status is JobStatus.ASSIGNED
    assert claimed.worker_id == "w1"
    assert await broker.progress(claimed.id, 25, token=claimed.token) is JobStatus.RUNNING
    running = await broker.get_job(claimed.id)
    assert (running.status, running.progress) == (JobStatus.RUNNING, 25)
    assert running.started_at is not None
    result = {"image_url": "https://example.com/result.jpg", "metadata": {"steps": 20}}
    assert await broker.complete(claimed.id, result, token=claimed.token)
    done = await broker.get_job(claimed.id)
    assert (done.status, done.progress, done.result) == (JobStatus.COMPLETED, 100, result)
    assert done.completed_at is not None
    assert running.started_at is not None
    assert done.completed_at >= running.started_at


async def test_failure_is_retried_with_backoff_then_claimed_again(broker: Broker) -> None:
    submitted = await broker.submit(sim(max_retries=2, retry_backoff=0.05))
    first = await claim_one(broker)
    assert await broker.fail(first.id, "MODEL_LOAD_FAILED", token=first.token) is True
    job = await broker.get_job(submitted.job_id)
    assert (job.status, job.retry_count, job.error) == (JobStatus.DELAYED, 1, "MODEL_LOAD_FAILED")
    assert (await broker.claim(SIM)).jobs == []  # backing off
    await asyncio.sleep(0.08)
    second = await claim_one(broker)
    assert second.id == submitted.job_id
    assert second.token != first.token
    assert [a.error for a in second.attempts] == ["MODEL_LOAD_FAILED"]


async def test_exhausted_retries_fail_for_good_and_are_kept(broker: Broker) -> None:
    submitted = await broker.submit(sim(max_retries=0))
    claimed = await claim_one(broker)
    assert await broker.fail(claimed.id, "boom", token=claimed.token) is False
    job = await broker.get_job(submitted.job_id)
    assert (job.status, job.error) == (JobStatus.FAILED, "boom")
    assert len(job.attempts) == 1
    assert await broker.retry(job.id) is JobStatus.PENDING
    again = await claim_one(broker)
    assert again.id == job.id
    assert again.retry_count == 0


async def test_non_retryable_failure_skips_retries(broker: Broker) -> None:
    await broker.submit(sim(max_retries=5))
    claimed = await claim_one(broker)
    assert await broker.fail(claimed.id, "bad input", token=claimed.token, retryable=False) is False
    assert (await broker.get_job(claimed.id)).status is JobStatus.FAILED


async def test_expired_lease_requeues_with_retry_accounting(make_broker: Any) -> None:
    broker: Broker = await make_broker(lease_seconds=0.05)
    await broker.submit(sim(max_retries=1, retry_backoff=0))
    dead = await claim_one(broker)
    await asyncio.sleep(0.08)
    # Any claim (or heartbeat, or tick) reclaims expired leases: no single reaper.
    alive = WorkerCapabilities(worker_id="w2", capabilities=["simulation"])
    taken = await claim_one(broker, alive)
    assert taken.id == dead.id
    assert taken.retry_count == 1
    assert "lease expired" in taken.attempts[0].error
    # The dead worker's late calls are fenced off.
    with pytest.raises(LeaseLost):
        await broker.complete(dead.id, {"late": True}, token=dead.token)
    with pytest.raises(LeaseLost):
        await broker.progress(dead.id, 50, token=dead.token)
    with pytest.raises(LeaseLost):
        await broker.fail(dead.id, "late", token=dead.token)
    assert await broker.complete(taken.id, {"ok": True}, token=taken.token)
    assert (await broker.get_job(taken.id)).result == {"ok": True}


async def test_lease_expiry_after_last_retry_fails_the_job(make_broker: Any) -> None:
    broker: Broker = await make_broker(lease_seconds=0.05)
    await broker.submit(sim(max_retries=0))
    claimed = await claim_one(broker)
    await asyncio.sleep(0.08)
    tick = await broker.tick()
    assert tick.reaped == 1
    job = await broker.get_job(claimed.id)
    assert job.status is JobStatus.FAILED
    assert "lease expired" in (job.error or "")


async def test_heartbeat_renews_leases_and_reports_cancellation(make_broker: Any) -> None:
    broker: Broker = await make_broker(lease_seconds=0.3)
    await broker.submit_many([sim(), sim()])
    batch = await broker.claim(SIM, max_jobs=2)
    held = {j.id: j.token for j in batch.jobs}
    for _ in range(4):
        await asyncio.sleep(0.1)
        assert await broker.heartbeat("w1", held) == {}
    first, second = batch.jobs
    assert await broker.cancel(first.id, reason="user asked") is JobStatus.ASSIGNED
    lost = await broker.heartbeat("w1", held)
    assert lost == {first.id: "cancelled"}
    with pytest.raises(LeaseLost):
        await broker.complete(first.id, {}, token=first.token)
    assert (await broker.get_job(first.id)).status is JobStatus.CANCELLED
    assert await broker.complete(second.id, {"n": 2}, token=second.token)


async def test_heartbeat_reports_lost_and_timed_out_jobs(make_broker: Any) -> None:
    broker: Broker = await make_broker(lease_seconds=5)
    await broker.submit(sim(timeout=0.05, max_retries=0))
    claimed = await claim_one(broker)
    await asyncio.sleep(0.08)
    assert await broker.heartbeat("w1", {claimed.id: claimed.token}) == {claimed.id: "timeout"}
    job = await broker.get_job(claimed.id)
    assert job.status is JobStatus.FAILED
    assert "timed out" in (job.error or "")
    assert await broker.heartbeat("w1", {claimed.id: claimed.token}) == {claimed.id: "lease_lost"}


async def test_release_hands_back_without_using_a_retry(broker: Broker) -> None:
    first = await broker.submit(sim())
    second = await broker.submit(sim())
    claimed = await claim_one(broker)
    assert claimed.id == first.job_id
    await broker.release(claimed.id, token=claimed.token, reason="worker draining")
    job = await broker.get_job(claimed.id)
    assert (job.status, job.retry_count, job.worker_id) == (JobStatus.PENDING, 0, "w1")
    # It keeps its place: still ahead of the job submitted after it.
    assert (await claim_one(broker)).id == first.job_id
    assert (await claim_one(broker)).id == second.job_id


async def test_cancel_pending_delayed_and_finished(broker: Broker) -> None:
    pending = await broker.submit(sim())
    delayed = await broker.submit(sim(delay=60))
    assert await broker.cancel(pending.job_id) is JobStatus.PENDING
    assert await broker.cancel(delayed.job_id) is JobStatus.DELAYED
    assert (await broker.claim(SIM)).jobs == []
    with pytest.raises(InvalidState, match="already cancelled"):
        await broker.cancel(pending.job_id)
    with pytest.raises(JobNotFound, match="Job not found: nope"):
        await broker.cancel("nope")
    with pytest.raises(InvalidState, match="only failed or cancelled"):
        await broker.retry((await broker.submit(sim())).job_id)


async def test_cancel_races_complete_exactly_one_wins(broker: Broker) -> None:
    for _ in range(20):
        await broker.submit(sim())
        claimed = await claim_one(broker)
        results = await asyncio.gather(
            broker.cancel(claimed.id),
            broker.complete(claimed.id, {"x": 1}, token=claimed.token),
            return_exceptions=True,
        )
        job = await broker.get_job(claimed.id)
        if job.status is JobStatus.COMPLETED:
            assert isinstance(results[0], InvalidState)
            assert results[1] is True
        else:
            assert job.status is JobStatus.CANCELLED
            assert isinstance(results[1], LeaseLost)
            assert job.result is None


async def test_unfenced_internal_calls_still_check_state(broker: Broker) -> None:
    submitted = await broker.submit(sim())
    with pytest.raises(LeaseLost, match="pending"):
        await broker.complete(submitted.job_id, {})
    claimed = await claim_one(broker)
    assert await broker.progress(claimed.id, 10) is JobStatus.RUNNING
    assert await broker.complete(claimed.id, {"via": "http"}) is True
    assert await broker.complete(claimed.id, {"again": True}, idempotent=True) is False
    assert (await broker.get_job(claimed.id)).result == {"via": "http"}


async def test_progress_is_validated(broker: Broker) -> None:
    await broker.submit(sim())
    claimed = await claim_one(broker)
    with pytest.raises(ValidationFailed, match="progress must be 0-100"):
        await broker.progress(claimed.id, 101, token=claimed.token)


async def test_oversized_result_is_refused(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jobq.broker.MAX_RESULT_BYTES", 100)
    await broker.submit(sim())
    claimed = await claim_one(broker)
    with pytest.raises(ValidationFailed, match=r"result is \d+ bytes"):
        await broker.complete(claimed.id, {"blob": "x" * 200}, token=claimed.token)
    assert (await broker.get_job(claimed.id)).status is JobStatus.ASSIGNED


async def test_finished_jobs_expire_after_retention(make_broker: Any) -> None:
    broker: Broker = await make_broker(retention_seconds=0.05)
    await broker.submit(sim())
    claimed = await claim_one(broker)
    await broker.complete(claimed.id, {}, token=claimed.token)
    await asyncio.sleep(0.08)
    assert (await broker.tick()).purged == 1
    with pytest.raises(JobNotFound):
        await broker.get_job(claimed.id)
    assert (await broker.list_jobs()).jobs == []
    assert (await broker.count_by_status())["completed"] == 0
