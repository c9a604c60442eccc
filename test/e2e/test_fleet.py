"""A mixed fleet: 3 capability classes of ``jobq worker`` processes (one process per
class, and a second big one), 5 job shapes. Every
claim is audited from the event stream against the worker's registered capabilities:
no worker ever receives a job it cannot run, and the shape nobody can run waits."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

from jobq.broker import Broker
from jobq.matching import can_run, shape_of
from jobq.models import Event, JobStatus
from jobq_testing.worker import WorkerProcessFactory

#: Worker class -> its flags.
CLASSES: dict[str, list[str]] = {
    "sd-8g": ["--gpu-memory", "8", "--model-type", "stable-diffusion",
              "--capability", "text-to-image"],
    "llm-24g": ["--gpu-memory", "24", "--model-type", "llm", "--capability", "text-generation"],
    "big-48g": ["--gpu-memory", "48", "--model-type", "llm", "--model-type", "stable-diffusion",
                "--capability", "text-generation", "--capability", "text-to-image",
                "--capability", "upscale"],
}  # fmt: skip
FAST = {"duration": 0.02, "steps": 1}
#: Shape name -> job spec. The last one no class can run.
SHAPES: dict[str, dict[str, Any]] = {
    "sd-small": {"type": "text-to-image", "prompt": "a fox", "parameters": FAST,
                 "requirements": {"capabilities": ["text-to-image"],
                                  "model_type": "stable-diffusion", "gpu_memory": 8}},
    "llm": {"type": "text-generation", "prompt": "a poem", "parameters": FAST,
            "requirements": {"capabilities": ["text-generation"], "model_type": "llm",
                             "gpu_memory": 16}},
    "upscale": {"type": "upscale", "parameters": {**FAST, "scale_factor": 2},
                "requirements": {"capabilities": ["upscale"], "gpu_memory": 4}},
    "sd-large": {"type": "text-to-image", "prompt": "a large fox", "parameters": FAST,
                 "requirements": {"capabilities": ["text-to-image"],
                                  "model_type": "stable-diffusion", "gpu_memory": 24}},
    "video": {"type": "text-to-image", "prompt": "a fox, as a film", "parameters": FAST,
              "requirements": {"capabilities": ["text-to-image", "video"], "gpu_memory": 80}},
}  # fmt: skip
PER_SHAPE = 60


async def all_events(broker: Broker) -> list[Event]:
    found: list[Event] = []
    cursor = "0-0"
    while batch := await broker.read_events(cursor, count=10_000):
        found.extend(batch)
        cursor = batch[-1].event_id
    return found


async def test_no_worker_ever_receives_a_job_it_cannot_run(
    broker: Broker, worker_process: WorkerProcessFactory
) -> None:
    workers = [
        worker_process("--simulate", "--concurrency", "4", *flags, worker_id=f"{name}-{i}",
                       ready=False)
        for name, flags in CLASSES.items()
        for i in ((1, 2) if name == "big-48g" else (1,))
    ]  # fmt: skip
    await asyncio.gather(*(asyncio.to_thread(w.wait_ready) for w in workers))
    specs = [SHAPES[name] for _ in range(PER_SHAPE) for name in SHAPES]  # interleaved
    ids = [r.job_id for r in await broker.submit_many(specs)]
    shape_by_job = dict(zip(ids, [s for _ in range(PER_SHAPE) for s in SHAPES], strict=True))
    runnable = [job_id for job_id in ids if shape_by_job[job_id] != "video"]
    for job_id in runnable:
        assert (await broker.wait_for(job_id, timeout=60)).status is JobStatus.COMPLETED

    registered = {w.capabilities.worker_id: w.capabilities for w in await broker.list_workers()}
    assert len(registered) == 4
    jobs = {job.id: job for job in await broker.get_jobs(ids) if job is not None}
    events = await all_events(broker)
    assignments = [e for e in events if e.type == "job_assigned"]
    assert len(assignments) == len(runnable)  # every claim, once
    done_by: dict[str, set[str]] = defaultdict(set)
    for event in assignments:
        assert event.job_id is not None
        assert event.worker_id is not None
        worker = registered[event.worker_id]
        job = jobs[event.job_id]
        assert can_run(worker, job.requirements), (event.worker_id, job.requirements)
        assert jobs[event.job_id].worker_id == event.worker_id
        done_by[event.worker_id.rsplit("-", 1)[0]].add(shape_by_job[event.job_id])
    completions = Counter(e.job_id for e in events if e.type == "job_completed")
    assert set(completions) == set(runnable)
    assert set(completions.values()) == {1}
    # Each class ran only what it can: the small ones their own shape, the big one the rest.
    assert done_by["sd-8g"] <= {"sd-small"}
    assert done_by["llm-24g"] <= {"llm"}
    assert {"upscale", "sd-large"} <= done_by["big-48g"]
    # Nobody can run the video shape: it waits, is never assigned, and is reported.
    video = [job_id for job_id in ids if shape_by_job[job_id] == "video"]
    assert {jobs[job_id].status for job_id in video} == {JobStatus.PENDING}
    video_shape = shape_of(jobs[video[0]].requirements).id
    [depth] = [d for d in (await broker.queue_stats()).shapes if d.shape_id == video_shape]
    assert (depth.pending, depth.runnable_by) == (PER_SHAPE, [])
