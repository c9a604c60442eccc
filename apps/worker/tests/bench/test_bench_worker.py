"""Worker benchmarks (issue 5): drain 10,000 no-op jobs with 2 ``jobq worker`` processes,
and the submit-to-result round trip through the SDK with an idle worker.

Both run real worker processes on the session's Redis. A benchmark fails only when jobs
go missing or run twice, or when a figure is far off its target; the figures themselves
go to ``reports/bench.json`` through ``bench_record``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from jobq.broker import Broker
from jobq.client import Client
from jobq.models import Event
from jobq_testing.bench import summary_ms
from jobq_testing.worker import WorkerProcessFactory

DRAIN_JOBS = 10_000
NO_OP = {"type": "simulation", "parameters": {"duration": 0, "steps": 0}}
ROUND_TRIPS = 1000


async def all_events(broker: Broker) -> list[Event]:
    found: list[Event] = []
    cursor = "0-0"
    while batch := await broker.read_events(cursor, count=10_000):
        found.extend(batch)
        cursor = batch[-1].event_id
    return found


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a process used so far, from /proc."""
    assert pid is not None
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def redis_cpu_seconds(broker: Broker) -> float:
    info = await broker.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def ms_of(event: Event) -> int:
    return int(event.event_id.split("-", 1)[0])


async def test_drain_10k_no_op_jobs_with_2_worker_processes(
    broker: Broker,
    worker_process: WorkerProcessFactory,
    bench_record: Callable[..., None],
    tmp_path: Path,
) -> None:
    config = tmp_path / "drain.toml"
    config.write_text("[worker]\nbatch_size = 64\nconcurrency = 256\n")
    flags = ("--simulate", "--config", str(config))
    workers = [worker_process(*flags, worker_id=f"drain-{n}", ready=False) for n in (1, 2)]
    await asyncio.gather(*(asyncio.to_thread(w.wait_ready) for w in workers))
    # Both workers are up and idle: submit everything at once, they drain it together.
    cpu_before = sum(cpu_seconds(w.pid) for w in workers)
    redis_before = await redis_cpu_seconds(broker)
    ids = [r.job_id for r in await broker.submit_many([NO_OP] * DRAIN_JOBS)]
    deadline = time.monotonic() + 120
    while (await broker.count_by_status()).get("completed", 0) < DRAIN_JOBS:
        assert time.monotonic() < deadline, await broker.count_by_status()
        await asyncio.sleep(0.05)
    worker_cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu_before
    redis_cpu = await redis_cpu_seconds(broker) - redis_before
    events = await all_events(broker)
    completed = [e for e in events if e.type == "job_completed"]
    assert Counter(e.job_id for e in completed) == Counter(ids)  # each once, none missing
    first_claim = min(ms_of(e) for e in events if e.type == "job_assigned")
    span = (max(ms_of(e) for e in completed) - first_claim) / 1000
    rate = DRAIN_JOBS / max(span, 0.001)
    per_worker = Counter(e.worker_id for e in completed)
    bench_record(
        "worker.drain_rate", rate, "jobs/s", target=">= 10,000", met=rate >= 10_000,
        scenario="2 idle `jobq worker --simulate` processes (concurrency 256, claims of up to "
        "64); 10,000 no-op jobs submitted in one batch; first claim to last completion",
    )  # fmt: skip
    for worker_id, count in sorted(per_worker.items()):
        bench_record(f"worker.drain_jobs.{worker_id}", count, "jobs")
    # CPU per job does not depend on what else the machine runs at the time.
    bench_record("worker.drain_cpu_per_job.workers", worker_cpu / DRAIN_JOBS * 1e6, "us",
                 scenario="both worker processes together, per job drained")  # fmt: skip
    bench_record("worker.drain_cpu_per_job.redis", redis_cpu / DRAIN_JOBS * 1e6, "us",
                 scenario="redis-server: submit, claim, complete, events; per job")  # fmt: skip
    assert rate > 1000, f"{rate:.0f} jobs/s is far below the 10,000 target"


async def test_submit_to_result_round_trip_with_an_idle_worker(
    client: Client,
    worker_process: WorkerProcessFactory,
    bench_record: Callable[..., None],
) -> None:
    worker_process("--simulate", "--concurrency", "4", worker_id="rt")
    for _ in range(50):  # warm up both ends
        await client.result(await client.submit(NO_OP["type"], parameters=NO_OP["parameters"]))
    samples: list[float] = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        job_id = await client.submit(NO_OP["type"], parameters=NO_OP["parameters"])
        result = await client.result(job_id, timeout=10)
        samples.append(time.perf_counter() - started)
        assert result["simulated"] is True
    figures = summary_ms(samples)
    scenario = (
        "SDK Client.submit + Client.result of a no-op job; one idle `jobq worker` process "
        f"woken by the job_submitted event; {ROUND_TRIPS} sequential round trips"
    )
    bench_record("worker.round_trip_p50", figures["p50"], "ms", target="<= 1",
                 met=figures["p50"] <= 1, scenario=scenario)  # fmt: skip
    bench_record("worker.round_trip_p99", figures["p99"], "ms", target="<= 2",
                 met=figures["p99"] <= 2, scenario=scenario)  # fmt: skip
    bench_record("worker.round_trip_mean", figures["mean"], "ms", scenario=scenario)
    assert figures["p50"] < 20, figures
