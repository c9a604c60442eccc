"""Core benchmarks (run by ``nox -s bench``): claim cost behind unrunnable jobs,
batch submit throughput, claim + complete throughput."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from jobq.broker import Broker
from jobq.models import WorkerCapabilities
from jobq_testing.bench import summary_ms

WORKER = WorkerCapabilities(worker_id="bench", capabilities=["simulation"], gpu_memory=8)
ROUNDS = 2000


async def claim_latency(broker: Broker) -> float:
    """Submit one runnable job, then time the claim that takes it."""
    await broker.submit({"type": "simulation"})
    start = time.perf_counter()
    batch = await broker.claim(WORKER)
    elapsed = time.perf_counter() - start
    assert len(batch.jobs) == 1
    return elapsed


@pytest.mark.timeout(300)
async def test_claim_cost_does_not_grow_with_unrunnable_jobs(
    make_broker: Callable[..., Any], namespace: str, bench_record: Callable[..., None]
) -> None:
    """Two namespaces on one server, one empty and one behind 100,000 jobs the worker
    cannot run; claims alternate between them, so machine noise hits both alike."""
    empty_ns: Broker = await make_broker(namespace=f"{namespace}-empty")
    behind_ns: Broker = await make_broker(namespace=f"{namespace}-behind")
    unrunnable: list[dict[str, Any]] = [
        {
            "type": "simulation",
            "priority": 100,
            "requirements": {
                "capabilities": ["video"] if i % 2 else ["simulation"],
                "gpu_memory": 80 if i % 2 == 0 else 0,
            },
        }
        for i in range(100_000)
    ]
    await behind_ns.submit_many(unrunnable)
    for _ in range(200):  # warm up: library, connections, shape caches
        await claim_latency(empty_ns)
        await claim_latency(behind_ns)
    empty_samples: list[float] = []
    behind_samples: list[float] = []
    for _ in range(ROUNDS):
        empty_samples.append(await claim_latency(empty_ns))
        behind_samples.append(await claim_latency(behind_ns))
    empty, behind = summary_ms(empty_samples), summary_ms(behind_samples)
    ratio = behind["p50"] / empty["p50"]
    scenario = "claim of 1 runnable job; 100,000 higher-priority jobs the worker cannot run"
    bench_record("core.claim_p50_empty", empty["p50"], "ms", scenario=scenario)
    bench_record("core.claim_p99_empty", empty["p99"], "ms", scenario=scenario)
    bench_record("core.claim_p50_behind_100k", behind["p50"], "ms", scenario=scenario)
    bench_record("core.claim_p99_behind_100k", behind["p99"], "ms", scenario=scenario)
    bench_record(
        "core.claim_p50_ratio", ratio, "x", target="<= 1.5", met=ratio <= 1.5, scenario=scenario
    )
    assert ratio <= 3, "claim cost grows with unrunnable jobs"


@pytest.mark.timeout(300)
async def test_batch_submit_throughput(broker: Broker, bench_record: Callable[..., None]) -> None:
    specs = [{"type": "simulation", "parameters": {"i": i}} for i in range(50_000)]
    await broker.submit_many(specs[:1000])  # warm up
    start = time.perf_counter()
    await broker.submit_many(specs)
    rate = len(specs) / (time.perf_counter() - start)
    bench_record(
        "core.batch_submit",
        rate,
        "jobs/s",
        target=">= 35,000",
        met=rate >= 35_000,
        scenario="submit_many of 50,000 jobs from one process",
    )


@pytest.mark.timeout(300)
async def test_claim_complete_cycle_throughput(
    broker: Broker, bench_record: Callable[..., None]
) -> None:
    total = 20_000
    await broker.submit_many({"type": "simulation"} for _ in range(total))
    done = 0
    start = time.perf_counter()
    while batch := (await broker.claim(WORKER, max_jobs=200)).jobs:
        outcomes = await broker.complete_many([(j.id, j.token, {}) for j in batch])
        done += sum(1 for o in outcomes if o is True)
    rate = done / (time.perf_counter() - start)
    assert done == total
    bench_record(
        "core.claim_complete_cycle",
        rate,
        "jobs/s",
        scenario="one process, claim batches of 200 + pipelined completes",
    )
