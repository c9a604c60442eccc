"""The mixed fleet (issue 7): 3 worker classes, 5 job shapes, 20 % of the jobs nobody
can run.

Measures how fast a fleet of asyncio workers (each with its own broker and connection
pool, as separate worker processes would have) drains the runnable jobs, and checks
that the unrunnable ones are reported: ``queue_stats()`` lists their shape as pending
with an empty ``runnable_by``, and no worker took any of them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from jobq.broker import Broker
from jobq.matching import can_run
from jobq.models import Requirements, WorkerCapabilities
from jobq_testing.core import BrokerFactory

#: The three worker classes, and how many workers of each the fleet runs.
WORKER_CLASSES: dict[str, dict[str, Any]] = {
    "sd-8g": {
        "gpu_memory": 8,
        "model_types": ["stable-diffusion"],
        "capabilities": ["text-to-image"],
    },
    "llm-24g": {"gpu_memory": 24, "model_types": ["llm"], "capabilities": ["text-generation"]},
    "big-48g": {
        "gpu_memory": 48,
        "model_types": ["llm", "stable-diffusion"],
        "capabilities": ["text-generation", "text-to-image", "upscale"],
    },
}
WORKERS_PER_CLASS = 2

#: The five job shapes, in equal numbers; the last one (20 %) no worker class can run.
SHAPES: list[dict[str, Any]] = [
    {
        "type": "text-to-image",
        "prompt": "a fox",
        "requirements": {
            "capabilities": ["text-to-image"],
            "model_type": "stable-diffusion",
            "gpu_memory": 8,
        },
    },
    {
        "type": "text-generation",
        "prompt": "a poem",
        "requirements": {
            "capabilities": ["text-generation"],
            "model_type": "llm",
            "gpu_memory": 16,
        },
    },
    {
        "type": "upscale",
        "parameters": {"scale_factor": 2},
        "requirements": {"capabilities": ["upscale"], "gpu_memory": 4},
    },
    {
        "type": "text-to-image",
        "prompt": "a large fox",
        "requirements": {
            "capabilities": ["text-to-image"],
            "model_type": "stable-diffusion",
            "gpu_memory": 24,
        },
    },
    {
        "type": "text-to-image",
        "prompt": "a fox, as a film",
        "requirements": {"capabilities": ["text-to-image", "video"], "gpu_memory": 80},
    },
]
JOBS_PER_SHAPE = 5_000
CLAIM_BATCH = 10
SCENARIO = (
    f"{len(WORKER_CLASSES)} worker classes x {WORKERS_PER_CLASS} asyncio workers, "
    f"{len(SHAPES)} shapes x {JOBS_PER_SHAPE:,} jobs, 20 % unrunnable; "
    f"claim {CLAIM_BATCH} + pipelined completes"
)


def fleet() -> list[tuple[str, WorkerCapabilities]]:
    """(class name, capabilities) of every worker."""
    return [
        (name, WorkerCapabilities(worker_id=f"{name}-{i}", **caps))
        for name, caps in WORKER_CLASSES.items()
        for i in range(WORKERS_PER_CLASS)
    ]


async def work(broker: Broker, worker: WorkerCapabilities) -> int:
    """Claim and complete until nothing this worker can run is left (no job is added
    during the drain, so the first empty claim means it is done). Returns the count."""
    done = 0
    while batch := (await broker.claim(worker, max_jobs=CLAIM_BATCH)).jobs:
        outcomes = await broker.complete_many([(job.id, job.token, {}) for job in batch])
        assert all(o is True for o in outcomes)
        done += len(batch)
    return done


@pytest.mark.timeout(300)
async def test_mixed_fleet_drains_runnable_jobs_and_reports_the_rest(
    make_broker: BrokerFactory, bench_record: Callable[..., None]
) -> None:
    classes, workers = zip(*fleet(), strict=True)
    shape_reqs = [Requirements.model_validate(s["requirements"]) for s in SHAPES]
    runnable_shapes = [any(can_run(w, req) for w in workers) for req in shape_reqs]
    assert runnable_shapes == [True, True, True, True, False]  # the scenario's premise

    submitter = await make_broker()
    rng = random.Random(7)
    specs = [
        {**SHAPES[i % len(SHAPES)], "priority": rng.randint(0, 100)}
        for i in range(JOBS_PER_SHAPE * len(SHAPES))
    ]
    await submitter.submit_many(specs)
    brokers = [await make_broker() for _ in workers]
    for broker, worker in zip(brokers, workers, strict=True):
        await broker.register_worker(worker)

    start = time.perf_counter()
    done = await asyncio.gather(*(work(b, w) for b, w in zip(brokers, workers, strict=True)))
    elapsed = time.perf_counter() - start
    runnable = JOBS_PER_SHAPE * sum(runnable_shapes)
    assert sum(done) == runnable
    rate = runnable / elapsed

    stats = await submitter.queue_stats()
    by_shape = {tuple(sorted(d.requirements.capabilities)): d for d in stats.shapes}
    stuck = by_shape[("text-to-image", "video")]
    reported = stuck.pending if not stuck.runnable_by else 0
    others_left = sum(d.pending for d in stats.shapes if d is not stuck)
    assert all(d.runnable_by for d in stats.shapes if d is not stuck)
    assert stats.by_status["completed"] == runnable

    bench_record("fleet.drain_rate", rate, "jobs/s", scenario=SCENARIO)
    per_class: Counter[str] = Counter()
    for name, count in zip(classes, done, strict=True):
        per_class[name] += count
    for name, count in per_class.items():
        bench_record(f"fleet.jobs_done.{name}", count, "jobs", scenario=SCENARIO)
    unrunnable = JOBS_PER_SHAPE
    bench_record(
        "fleet.unrunnable_reported",
        reported,
        "jobs",
        target=f"= {unrunnable:,} (pending, runnable_by empty)",
        met=reported == unrunnable,
        scenario=SCENARIO,
    )
    bench_record(
        "fleet.runnable_left", others_left, "jobs", target="= 0", met=others_left == 0,
        scenario=SCENARIO,
    )  # fmt: skip
    assert reported == unrunnable
    assert others_left == 0
