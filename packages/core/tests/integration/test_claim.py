"""Claiming: matching rules, ordering, batches, concurrency, and no starvation."""

from __future__ import annotations

import asyncio
from typing import Any

from jobq.broker import Broker
from jobq.models import JobStatus, WorkerCapabilities


def job(caps: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    requirements = {"capabilities": caps if caps is not None else ["simulation"]}
    requirements.update(fields.pop("requirements", {}))
    return {"type": "simulation", "requirements": requirements, **fields}


def worker(worker_id: str = "w", **fields: Any) -> WorkerCapabilities:
    fields.setdefault("capabilities", ["simulation"])
    return WorkerCapabilities(worker_id=worker_id, **fields)


async def claim_ids(broker: Broker, w: WorkerCapabilities, n: int = 1) -> list[str]:
    return [j.id for j in (await broker.claim(w, max_jobs=n)).jobs]


async def test_exact_fifo_within_priority_across_shapes(broker: Broker) -> None:
    specs = [
        job(["a"], priority=50),
        job(["b"], priority=50),
        job(["a"], priority=90),
        job(["a", "b"], priority=50),
        job(["b"], priority=90),
    ]
    ids = [r.job_id for r in await broker.submit_many(specs)]
    got = await claim_ids(broker, worker(capabilities=["a", "b"]), 5)
    assert got == [ids[2], ids[4], ids[0], ids[1], ids[3]]


async def test_batch_claim_takes_the_best_k(broker: Broker) -> None:
    ids = [r.job_id for r in await broker.submit_many([job(priority=p) for p in (10, 20, 30, 40)])]
    assert await claim_ids(broker, worker(), 2) == [ids[3], ids[2]]
    assert await claim_ids(broker, worker(), 5) == [ids[1], ids[0]]
    batch = await broker.claim(worker(), max_jobs=3)
    assert batch.jobs == []
    assert batch.resume_from is not None


async def test_requirements_are_enforced(broker: Broker) -> None:
    big = await broker.submit(job(requirements={"gpu_memory": 24, "model_type": "flux"}))
    svc = await broker.submit(job(requirements={"service": "comfyui"}))
    small = worker(gpu_memory=8, model_types=["flux"])
    assert await claim_ids(broker, small) == []
    assert await claim_ids(broker, worker(gpu_memory=24, model_types=["sdxl"])) == []
    assert await claim_ids(broker, worker(gpu_memory=48, model_types=["flux"])) == [big.job_id]
    assert await claim_ids(broker, worker(services=["comfyui"])) == [svc.job_id]


async def test_customer_rules(broker: Broker) -> None:
    acme = await broker.submit(job(requirements={"customer_id": "acme"}))
    private = await broker.submit(
        job(requirements={"customer_id": "bank", "isolation": "dedicated"})
    )
    assert await claim_ids(broker, worker(customers_denied=["acme"])) == []
    assert await claim_ids(broker, worker(customers_allowed=["other"])) == []
    assert await claim_ids(broker, worker()) == [acme.job_id]  # shared: any worker
    assert await claim_ids(broker, worker()) == []  # dedicated: only listed workers
    assert await claim_ids(broker, worker(customers_allowed=["bank"])) == [private.job_id]


async def test_pool_affinity_then_fallback_and_strict_pools(broker: Broker) -> None:
    heavy = await broker.submit(job(priority=90, requirements={"pool_preference": "heavy"}))
    strict = await broker.submit(
        job(priority=95, requirements={"pool_preference": "heavy", "pool_strict": True})
    )
    fast = await broker.submit(job(priority=10, requirements={"pool_preference": "fast-lane"}))
    anywhere = await broker.submit(job(priority=5))
    lane = worker(pool_type="fast-lane")
    assert await claim_ids(broker, lane, 4) == [fast.job_id, anywhere.job_id, heavy.job_id]
    assert await claim_ids(broker, worker(pool_type="heavy")) == [strict.job_id]


async def test_fifty_concurrent_claimers_over_a_thousand_jobs(broker: Broker) -> None:
    ids = {r.job_id for r in await broker.submit_many([job() for _ in range(1000)])}
    claimed: list[str] = []

    async def claimer(n: int) -> None:
        me = worker(f"w{n}")
        while batch := (await broker.claim(me, max_jobs=3)).jobs:
            claimed.extend(j.id for j in batch)

    await asyncio.gather(*(claimer(n) for n in range(50)))
    assert len(claimed) == len(ids) == len(set(claimed))
    assert set(claimed) == ids


async def test_no_starvation_behind_jobs_the_worker_cannot_run(broker: Broker) -> None:
    # 20,000 jobs nobody here can run, submitted first and at a higher priority.
    await broker.submit_many(
        job(["video"], priority=90, requirements={"gpu_memory": 80}) for _ in range(20_000)
    )
    mine = await broker.submit(job(["text-to-image"], priority=10))
    small = worker(capabilities=["text-to-image", "video"], gpu_memory=8)
    assert await claim_ids(broker, small) == [mine.job_id]


async def test_new_shapes_are_seen_by_a_warm_worker(broker: Broker) -> None:
    me = worker(capabilities=["simulation", "x"])
    await broker.submit(job())
    assert len(await claim_ids(broker, me)) == 1
    assert await claim_ids(broker, me) == []
    brand_new = await broker.submit(job(["x"]))  # a shape the worker's cache has not seen
    assert await claim_ids(broker, me) == [brand_new.job_id]


async def test_malformed_records_do_not_poison_other_jobs(broker: Broker) -> None:
    ids = [r.job_id for r in await broker.submit_many([job() for _ in range(4)])]
    keys = broker.keys
    await broker.redis.delete(keys.job(ids[0]))  # vanished record, still queued
    await broker.redis.hdel(keys.job(ids[1]), "seq")  # broken record
    await broker.redis.hset(keys.job(ids[2]), "data", "{not json")  # undecodable payload
    got = await claim_ids(broker, worker(), 4)
    assert got == [ids[3]]
    for bad in ids[1:3]:
        assert await broker.redis.hget(keys.job(bad), "status") == JobStatus.FAILED
    assert "malformed" in (await broker.redis.hget(keys.job(ids[2]), "error") or "")
