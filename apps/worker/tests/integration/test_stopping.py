"""Stopping handlers: cancellation, timeouts, lost leases; draining on shutdown; riding
out a Redis restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from jobq.broker import Broker, ClaimBatch
from jobq.models import JobStatus, SubmitResult, WorkerCapabilities
from jobq_testing.plugin import RedisServerFactory
from jobq_testing.worker import eventually
from jobq_worker import JobContext, Worker

StartWorker = Callable[..., Awaitable[Worker]]


async def submit_retrying(broker: Broker, specs: list[dict[str, Any]]) -> list[SubmitResult]:
    """Submit, retrying while the connection pool still holds connections to the old
    server (the batch submit path does not reconnect by itself)."""
    for _ in range(50):
        try:
            return await broker.submit_many(specs)
        except RedisConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError("Redis did not come back")


async def done(found: list[str | None]) -> bool:
    return bool(found)


class Blocker:
    """An async handler that runs until cancelled, recording what stopped it."""

    def __init__(self, seconds: float = 30.0) -> None:
        self.seconds = seconds
        self.started = asyncio.Event()
        self.stopped: list[str | None] = []
        self.runs = 0

    async def __call__(self, ctx: JobContext) -> dict[str, Any]:
        self.runs += 1
        self.started.set()
        try:
            await asyncio.sleep(self.seconds if self.runs == 1 else 0)
        except asyncio.CancelledError:
            self.stopped.append(ctx.stop_reason)
            raise
        return {"run": self.runs}


class SyncBlocker:
    """A sync handler that checks ``ctx.cancelled`` between steps."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.seen: list[str | None] = []

    def __call__(self, ctx: JobContext) -> None:
        self.loop.call_soon_threadsafe(self.started.set)
        deadline = time.monotonic() + 30
        while not ctx.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        self.seen.append(ctx.stop_reason)


async def test_cancelling_a_job_stops_its_async_handler(
    broker: Broker, start_worker: StartWorker
) -> None:
    handler = Blocker()
    worker = await start_worker(handlers={"simulation": handler}, heartbeat_interval=0.1)
    submitted = await broker.submit({"type": "simulation"})
    await asyncio.wait_for(handler.started.wait(), 20)
    assert await broker.cancel(submitted.job_id) in (JobStatus.ASSIGNED, JobStatus.RUNNING)
    await eventually(lambda: done(handler.stopped))
    assert handler.stopped == ["cancelled"]
    assert (await broker.get_job(submitted.job_id)).status is JobStatus.CANCELLED
    assert worker.stats.stopped == 1
    assert worker.running_jobs == []


async def test_cancelling_a_job_raises_the_flag_of_its_sync_handler(
    broker: Broker, start_worker: StartWorker
) -> None:
    handler = SyncBlocker()
    worker = await start_worker(handlers={"simulation": handler}, heartbeat_interval=0.1)
    submitted = await broker.submit({"type": "simulation"})
    await asyncio.wait_for(handler.started.wait(), 20)
    await broker.cancel(submitted.job_id)
    await eventually(lambda: done(handler.seen))
    assert handler.seen == ["cancelled"]
    assert (await broker.get_job(submitted.job_id)).status is JobStatus.CANCELLED
    assert worker.stats.stopped == 1


async def test_a_job_that_runs_past_its_timeout_is_stopped_and_failed(
    broker: Broker, start_worker: StartWorker
) -> None:
    handler = Blocker()
    flag = SyncBlocker()
    await start_worker(handlers={"simulation": handler, "text-generation": flag})
    submitted = await broker.submit({"type": "simulation", "timeout": 0.3, "max_retries": 0})
    job = await broker.wait_for(submitted.job_id, timeout=20)
    assert (job.status, job.error) == (JobStatus.FAILED, "timed out after 0.3 s")
    assert handler.stopped == [None]  # cancelled by the timeout, not by a stop request
    sync_job = await broker.submit(
        {"type": "text-generation", "prompt": "p", "timeout": 0.3, "max_retries": 0}
    )
    assert (await broker.wait_for(sync_job.job_id, timeout=20)).status is JobStatus.FAILED
    await eventually(lambda: done(flag.seen))
    assert flag.seen == ["timeout"]


async def test_heartbeats_keep_a_long_job_leased(
    make_broker: Callable[..., Awaitable[Broker]], start_worker: StartWorker
) -> None:
    broker = await make_broker(lease_seconds=0.6)
    handler = Blocker(seconds=2.0)
    await start_worker(handlers={"simulation": handler}, broker=broker)
    submitted = await broker.submit({"type": "simulation"})
    job = await broker.wait_for(submitted.job_id, timeout=20)
    assert (job.status, job.retry_count, job.attempts) == (JobStatus.COMPLETED, 0, [])


async def test_a_handler_whose_lease_was_lost_is_stopped(
    broker: Broker, start_worker: StartWorker
) -> None:
    handler = Blocker()
    await start_worker(handlers={"simulation": handler}, heartbeat_interval=0.1)
    submitted = await broker.submit({"type": "simulation"})
    await asyncio.wait_for(handler.started.wait(), 20)
    await broker.release(submitted.job_id, reason="taken away")  # unfenced: the lease is gone
    job = await broker.wait_for(submitted.job_id, timeout=20)
    assert handler.stopped == ["lease_lost"]
    assert (job.status, job.result) == (JobStatus.COMPLETED, {"run": 2})  # claimed again


async def test_draining_lets_running_jobs_finish(broker: Broker, start_worker: StartWorker) -> None:
    handler = Blocker(seconds=0.5)
    worker = await start_worker(handlers={"simulation": handler}, start=False)
    task = asyncio.create_task(worker.run())
    submitted = await broker.submit({"type": "simulation"})
    await asyncio.wait_for(handler.started.wait(), 20)
    worker.request_stop(grace=30)
    await asyncio.wait_for(task, 30)
    assert (await broker.get_job(submitted.job_id)).status is JobStatus.COMPLETED
    assert worker.stats.completed == 1
    assert worker.worker_id not in [w.capabilities.worker_id for w in await broker.list_workers()]


async def test_draining_hands_unfinished_jobs_back_without_using_a_retry(
    broker: Broker, start_worker: StartWorker
) -> None:
    handler = Blocker()
    worker = await start_worker(handlers={"simulation": handler}, start=False)
    task = asyncio.create_task(worker.run())
    since = await broker.last_event_id()
    submitted = await broker.submit({"type": "simulation"})
    await asyncio.wait_for(handler.started.wait(), 20)
    worker.request_stop(grace=0.2)
    await asyncio.wait_for(task, 30)
    job = await broker.get_job(submitted.job_id)
    assert (job.status, job.retry_count, job.attempts) == (JobStatus.PENDING, 0, [])
    assert handler.stopped == ["shutdown"]
    assert worker.stats.released == 1
    released = [e for e in await broker.read_events(since) if e.type == "job_released"]
    assert released[0].data == {"reason": "worker w1 shutting down"}


async def test_a_second_stop_hands_back_at_once(broker: Broker, start_worker: StartWorker) -> None:
    handler = Blocker()
    worker = await start_worker(handlers={"simulation": handler}, start=False)
    task = asyncio.create_task(worker.run())
    submitted = await broker.submit({"type": "simulation"})
    await asyncio.wait_for(handler.started.wait(), 20)
    worker.request_stop(grace=600)
    await asyncio.sleep(0.2)
    assert not task.done()
    worker.request_stop()
    await asyncio.wait_for(task, 30)
    assert (await broker.get_job(submitted.job_id)).status is JobStatus.PENDING


async def test_jobs_claimed_as_the_stop_comes_go_straight_back(
    broker: Broker, start_worker: StartWorker
) -> None:
    handler = Blocker()
    worker = await start_worker(handlers={"simulation": handler}, start=False)
    real = worker.broker.claim

    async def claim_then_stop(caps: WorkerCapabilities, **kw: Any) -> ClaimBatch:
        batch = await real(caps, **kw)
        if batch.jobs:
            worker.request_stop(grace=30)
        return batch

    worker.broker.claim = claim_then_stop  # type: ignore[method-assign]
    submitted = await broker.submit({"type": "simulation"})
    await asyncio.wait_for(worker.run(), 30)
    assert handler.runs == 0
    assert (await broker.get_job(submitted.job_id)).status is JobStatus.PENDING
    assert worker.stats.released == 1


async def test_the_worker_rides_out_a_redis_restart(
    redis_server_factory: RedisServerFactory,
    make_broker: Callable[..., Awaitable[Broker]],
    start_worker: StartWorker,
) -> None:
    server = redis_server_factory(appendonly=True)
    broker = await make_broker(redis_url=server.url)
    # A claim whose reply is lost in the restart leaves a job assigned to nobody who
    # knows it: its lease (short here) expires and it runs again.
    worker_broker = await make_broker(redis_url=server.url, lease_seconds=3)

    async def quick(ctx: JobContext) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"n": ctx.parameters["n"]}

    worker = await start_worker(
        handlers={"simulation": quick}, broker=worker_broker, heartbeat_interval=0.2
    )
    before = await broker.submit_many(
        [{"type": "simulation", "parameters": {"n": i}} for i in range(20)]
    )
    await asyncio.to_thread(server.restart)
    after = await submit_retrying(
        broker, [{"type": "simulation", "parameters": {"n": i}} for i in range(20, 40)]
    )
    for result in [*before, *after]:
        job = await broker.wait_for(result.job_id, timeout=30)
        assert job.status is JobStatus.COMPLETED
    assert worker.stats.completed >= 40
