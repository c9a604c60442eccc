"""Chaos: 2,000 jobs, 4 ``jobq worker`` processes, a random worker SIGKILLed every 0.5 s
and restarted. Every job must end ``completed`` exactly once: none lost, none stuck,
none failed, within a time bound. The second run also restarts Redis (append-only
file on) in the middle."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from jobq.broker import Broker
from jobq.models import Event, JobStatus
from jobq_testing.core import BrokerFactory
from jobq_testing.plugin import RedisServerFactory
from jobq_testing.worker import READY_MESSAGE, WorkerProcess, WorkerProcessFactory

JOBS = 2000
WORKERS = 4
KILL_EVERY = 0.5
#: Every job must be completed this many seconds after the chaos starts.
TIME_BOUND = 60.0
LEASE = {"JOBQ_LEASE_SECONDS": "2"}
JOB = {
    "type": "simulation",
    "parameters": {"duration": 0.2, "steps": 2},
    "max_retries": 100,  # a job may be caught in many kills; it must never fail for it
    "retry_backoff": 0.05,
}


@dataclass
class Chaos:
    """What a chaos run did."""

    kills: int
    seconds: float
    redis_restarted: bool = False
    boot_seconds: float = 0.0


async def retrying(call: Callable[[], Awaitable[dict[str, int]]]) -> dict[str, int]:
    """Call, retrying while Redis restarts."""
    for _ in range(200):
        try:
            return await call()
        except (RedisConnectionError, ConnectionError):
            await asyncio.sleep(0.05)
    raise AssertionError("Redis did not come back")


def ready(worker: WorkerProcess) -> bool:
    return worker.alive() and worker.log().count(READY_MESSAGE) >= worker.starts


async def run_chaos(
    broker: Broker,
    worker_process: WorkerProcessFactory,
    *,
    env: dict[str, str],
    halfway: Callable[[], None] | None = None,
) -> Chaos:
    """Start the workers, kill one every KILL_EVERY seconds (restarting it at once) until
    every job is completed; call ``halfway`` once, when half of them are."""
    workers = [
        worker_process("--simulate", "--concurrency", "32", worker_id=f"c{i}", env=env, ready=False)
        for i in range(WORKERS)
    ]
    booting = time.monotonic()
    await asyncio.gather(*(asyncio.to_thread(w.wait_ready) for w in workers))
    boot = time.monotonic() - booting
    rng = random.Random(20261125)
    kills = 0
    started = time.monotonic()
    restarted = False
    while True:
        counts = await retrying(broker.count_by_status)
        if counts.get("completed", 0) == JOBS:
            return Chaos(kills, time.monotonic() - started, restarted, boot)
        elapsed = time.monotonic() - started
        assert elapsed < TIME_BOUND, f"not all jobs completed after {elapsed:.0f} s: {counts}"
        if halfway is not None and not restarted and counts.get("completed", 0) >= JOBS // 2:
            await asyncio.to_thread(halfway)
            restarted = True
        await asyncio.sleep(KILL_EVERY)
        # A worker still starting holds nothing (killing it proves nothing), and the last
        # one up is spared so that the fleet makes progress on a loaded 2-core machine,
        # where a restarted `jobq worker` can take several seconds to be up again.
        candidates = [w for w in workers if ready(w)]
        if len(candidates) >= 2:
            victim = rng.choice(candidates)
            await asyncio.to_thread(victim.kill)
            victim.restart()
            kills += 1


async def all_events(broker: Broker) -> list[Event]:
    found: list[Event] = []
    cursor = "0-0"
    while batch := await broker.read_events(cursor, count=10_000):
        found.extend(batch)
        cursor = batch[-1].event_id
    return found


async def check_every_job_completed_once(broker: Broker, job_ids: list[str], chaos: Chaos) -> None:
    jobs = await broker.get_jobs(job_ids)
    statuses = Counter(job.status if job else "lost" for job in jobs)
    assert statuses == {JobStatus.COMPLETED: JOBS}, statuses
    events = await all_events(broker)
    completions = Counter(e.job_id for e in events if e.type == "job_completed")
    assert set(completions) == set(job_ids)
    assert set(completions.values()) == {1}, "a job was completed twice"
    assert not [e for e in events if e.type == "job_failed" and not e.data.get("will_retry")]
    lease_expiries = sum(
        1 for job in jobs if job for a in job.attempts if a.error.startswith("lease expired")
    )
    print(f"chaos: {chaos}, jobs caught in a kill: {lease_expiries}")
    assert chaos.kills >= 3
    assert lease_expiries > 0, "no kill caught a job in flight: the chaos proved nothing"
    live = {status: n for status, n in (await broker.count_by_status()).items() if n}
    assert live == {"completed": JOBS}  # nothing stuck anywhere


@pytest.mark.timeout(150)
async def test_every_job_completes_exactly_once_while_workers_are_killed(
    broker: Broker, worker_process: WorkerProcessFactory
) -> None:
    job_ids = [r.job_id for r in await broker.submit_many([JOB] * JOBS)]
    chaos = await run_chaos(broker, worker_process, env=LEASE)
    await check_every_job_completed_once(broker, job_ids, chaos)


@pytest.mark.timeout(150)
async def test_no_job_is_lost_when_redis_restarts_in_the_middle(
    redis_server_factory: RedisServerFactory,  # first: it is torn down after the workers
    make_broker: BrokerFactory,
    worker_process: WorkerProcessFactory,
) -> None:
    server = redis_server_factory(appendonly=True)
    broker = await make_broker(redis_url=server.url)
    job_ids = [r.job_id for r in await broker.submit_many([JOB] * JOBS)]
    env = {**LEASE, "JOBQ_REDIS_URL": server.url}
    chaos = await run_chaos(broker, worker_process, env=env, halfway=server.restart)
    assert chaos.redis_restarted
    await check_every_job_completed_once(broker, job_ids, chaos)
