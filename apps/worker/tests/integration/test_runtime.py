"""The worker runtime on a real Redis: handlers, concurrency, batch claims, wake-ups,
progress, results and failures."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from jobq.broker import Broker, ClaimBatch
from jobq.models import JobStatus, WorkerCapabilities
from jobq.settings import CoreSettings
from jobq_worker import ConfigError, JobContext, PermanentError, Worker, WorkerOptions

StartWorker = Callable[..., Awaitable[Worker]]


def count_claims(worker: Worker) -> list[tuple[int, int]]:
    """Record (max_jobs asked, jobs got) of every claim the worker makes."""
    calls: list[tuple[int, int]] = []
    real = worker.broker.claim

    async def claim(caps: WorkerCapabilities, *, max_jobs: int = 1, **kw: Any) -> ClaimBatch:
        batch = await real(caps, max_jobs=max_jobs, **kw)
        calls.append((max_jobs, len(batch.jobs)))
        return batch

    worker.broker.claim = claim  # type: ignore[method-assign]
    return calls


async def test_async_and_sync_handlers_complete_jobs(
    broker: Broker, start_worker: StartWorker
) -> None:
    threads: list[str] = []

    async def simulate(ctx: JobContext) -> dict[str, Any]:
        return {"echo": ctx.parameters}

    def generate(ctx: JobContext) -> str:
        threads.append(threading.current_thread().name)
        return f"text for {ctx.prompt}"

    worker = await start_worker(handlers={"simulation": simulate, "text-generation": generate})
    first = await broker.submit({"type": "simulation", "parameters": {"n": 1}})
    second = await broker.submit({"type": "text-generation", "prompt": "a poem"})
    done = await broker.wait_for(first.job_id, timeout=20)
    assert (done.status, done.result, done.worker_id) == (
        JobStatus.COMPLETED, {"echo": {"n": 1}}, worker.worker_id,
    )  # fmt: skip
    other = await broker.wait_for(second.job_id, timeout=20)
    assert other.result == {"value": "text for a poem"}
    assert threads
    assert threads[0].startswith("jobq-handler")
    [info] = [w for w in await broker.list_workers() if w.capabilities.worker_id == "w1"]
    assert info.capabilities.concurrency == 4
    assert info.capabilities.capabilities == ["simulation", "text-generation"]


async def test_concurrency_is_respected_and_claims_come_in_batches(
    broker: Broker, start_worker: StartWorker
) -> None:
    active = 0
    peak = 0

    async def slow(ctx: JobContext) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1

    ids = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 30)]
    worker = await start_worker(handlers={"simulation": slow}, concurrency=5, start=False)
    claims = count_claims(worker)
    task = asyncio.create_task(worker.run())
    for job_id in ids:
        assert (await broker.wait_for(job_id, timeout=30)).status is JobStatus.COMPLETED
    worker.request_stop()
    await task
    assert peak == 5
    assert all(asked <= 5 for asked, _ in claims)
    assert max(got for _, got in claims) == 5  # several jobs per claim
    assert worker.stats.completed == 30
    assert worker.stats.claimed == 30


async def test_an_idle_worker_blocks_on_events_instead_of_polling(
    broker: Broker, start_worker: StartWorker
) -> None:
    async def noop(ctx: JobContext) -> None:
        return None

    worker = await start_worker(handlers={"simulation": noop}, poll_interval=60, start=False)
    claims = count_claims(worker)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(1.0)
    idle_claims = len(claims)
    assert idle_claims <= 2  # one on start; no polling while nothing happens
    submitted = await broker.submit({"type": "simulation"})
    # Far sooner than the 60 s fallback poll: the job_submitted event woke the worker.
    assert (await broker.wait_for(submitted.job_id, timeout=20)).status is JobStatus.COMPLETED
    # A job scheduled for later is promoted by a heartbeat and announced (job_ready).
    later = await broker.submit({"type": "simulation", "delay": 0.2})
    assert (await broker.wait_for(later.job_id, timeout=20)).status is JobStatus.COMPLETED
    worker.request_stop()
    await task
    assert len(claims) <= idle_claims + 6


async def test_progress_is_coalesced_and_the_last_report_arrives(
    broker: Broker, start_worker: StartWorker
) -> None:
    async def chatty(ctx: JobContext) -> dict[str, Any]:
        started = time.perf_counter()
        for percent in range(100):
            ctx.progress(percent)
        spent = time.perf_counter() - started
        await asyncio.sleep(0.3)
        ctx.progress(70, "almost")
        return {"reporting_took": spent}

    since = await broker.last_event_id()
    await start_worker(handlers={"simulation": chatty}, progress_interval=0.05)
    submitted = await broker.submit({"type": "simulation"})
    job = await broker.wait_for(submitted.job_id, timeout=20)
    assert job.status is JobStatus.COMPLETED
    assert job.started_at is not None
    events = [e for e in await broker.read_events(since, count=1000) if e.job_id == job.id]
    progress = [
        (e.data["progress"], e.data.get("message")) for e in events if e.type == "job_progress"
    ]
    assert 1 <= len(progress) <= 4  # 101 reports, a handful of calls
    assert progress[-1] == (70, "almost")
    assert [e.type for e in events][-1] == "job_completed"


async def test_progress_from_a_sync_handler(broker: Broker, start_worker: StartWorker) -> None:
    def blocking(ctx: JobContext) -> None:
        ctx.progress(30, "in a thread")
        time.sleep(0.3)

    since = await broker.last_event_id()
    await start_worker(handlers={"simulation": blocking}, progress_interval=0.02)
    submitted = await broker.submit({"type": "simulation"})
    await broker.wait_for(submitted.job_id, timeout=20)
    progress = [
        e.data for e in await broker.read_events(since, count=1000) if e.type == "job_progress"
    ]
    assert {"progress": 30, "status": "running", "message": "in a thread"} in progress


async def test_a_result_over_the_limit_fails_the_job_for_good(
    broker: Broker, start_worker: StartWorker
) -> None:
    async def huge(ctx: JobContext) -> dict[str, Any]:
        return {"image": "x" * 5000}

    await start_worker(handlers={"simulation": huge}, max_result_bytes=1000)
    submitted = await broker.submit({"type": "simulation", "max_retries": 3})
    job = await broker.wait_for(submitted.job_id, timeout=20)
    assert job.status is JobStatus.FAILED
    assert job.retry_count == 0
    assert job.error is not None
    assert "ResultTooLarge: the result is 5,012 bytes" in job.error
    assert "limit is 1,000 bytes" in job.error


async def test_exceptions_are_retried_and_permanent_errors_are_not(
    broker: Broker, start_worker: StartWorker
) -> None:
    async def flaky(ctx: JobContext) -> dict[str, Any]:
        if ctx.parameters.get("permanent"):
            raise PermanentError("bad input: no such model")
        if ctx.attempt == 1:
            raise RuntimeError("GPU fell off the bus")
        return {"attempt": ctx.attempt}

    await start_worker(handlers={"simulation": flaky})
    flaky_job = await broker.submit({"type": "simulation", "retry_backoff": 0.05})
    bad_job = await broker.submit({"type": "simulation", "parameters": {"permanent": True}})
    job = await broker.wait_for(flaky_job.job_id, timeout=20)
    assert (job.status, job.result, job.retry_count) == (JobStatus.COMPLETED, {"attempt": 2}, 1)
    assert [a.error for a in job.attempts] == ["RuntimeError: GPU fell off the bus"]
    bad = await broker.wait_for(bad_job.job_id, timeout=20)
    assert (bad.status, bad.retry_count) == (JobStatus.FAILED, 0)
    assert bad.error == "PermanentError: bad input: no such model"


async def test_a_job_without_a_handler_fails_with_a_clear_error(
    broker: Broker, start_worker: StartWorker
) -> None:
    async def noop(ctx: JobContext) -> None:
        return None

    await start_worker(handlers={"simulation": noop}, capabilities=["simulation", "upscale"])
    submitted = await broker.submit(
        {"type": "upscale", "parameters": {"scale_factor": 2}, "max_retries": 0}
    )
    job = await broker.wait_for(submitted.job_id, timeout=20)
    assert job.status is JobStatus.FAILED
    assert job.error == "no handler for job type 'upscale' on worker w1"


async def test_a_workflow_step_reads_the_results_of_its_parents(
    broker: Broker, start_worker: StartWorker
) -> None:
    async def step(ctx: JobContext) -> dict[str, Any]:
        parents = await ctx.parent_results()
        return {"step": ctx.job.step_index, "parents": sorted(p["step"] for p in parents.values())}

    await start_worker(handlers={"simulation": step})
    created = await broker.create_workflow(
        {
            "name": "chain",
            "steps": [{"type": "simulation"}, {"type": "simulation"},
                      {"type": "simulation", "depends_on": [0, 1]}],
        }
    )  # fmt: skip
    last = await broker.wait_for(created.job_ids[2], timeout=20)
    assert last.result == {"step": 2, "parents": [0, 1]}
    state = await broker.get_workflow(created.workflow_id)
    assert state.workflow.status == "completed"


async def test_the_fallback_runs_every_type(broker: Broker, start_worker: StartWorker) -> None:
    from jobq_worker.connectors import build_connector

    await start_worker(fallback=build_connector("simulation"), capabilities=["text-to-image"])
    submitted = await broker.submit({"type": "text-to-image", "prompt": "a fox",
                                     "parameters": {"duration": 0, "steps": 2}})  # fmt: skip
    job = await broker.wait_for(submitted.job_id, timeout=20)
    assert job.result is not None
    assert job.result["simulated"] is True


async def test_a_worker_needs_handlers_and_runs_once(
    broker: Broker, start_worker: StartWorker
) -> None:
    empty = await start_worker(start=False)
    with pytest.raises(ConfigError, match="no handlers"):
        await empty.run()

    async def noop(ctx: JobContext) -> None:
        return None

    worker = await start_worker(handlers={"simulation": noop})
    await asyncio.sleep(0.1)
    with pytest.raises(RuntimeError, match="runs once"):
        await worker.run()


async def test_the_documented_api_decorators_and_from_url(
    broker: Broker, core_settings: CoreSettings
) -> None:
    worker = Worker.from_url(
        core_settings.redis_url,
        WorkerCapabilities(worker_id="doc", capabilities=["upscale", "simulation"]),
        settings=core_settings,
        options=WorkerOptions(concurrency=2),
    )

    @worker.handler("upscale")
    async def upscale(ctx: JobContext) -> dict[str, Any]:
        ctx.progress(50)
        return {"scale": ctx.parameters["scale_factor"]}

    def other(ctx: JobContext) -> dict[str, Any]:
        return {"type": ctx.type}

    worker.add_handler("simulation", other)
    worker.set_fallback(None)
    task = asyncio.create_task(worker.run())
    up = await broker.submit({"type": "upscale", "parameters": {"scale_factor": 4}})
    sim = await broker.submit({"type": "simulation"})
    assert (await broker.wait_for(up.job_id, timeout=20)).result == {"scale": 4}
    assert (await broker.wait_for(sim.job_id, timeout=20)).result == {"type": "simulation"}
    worker.request_stop()
    await task
    assert worker.stats.completed == 2
