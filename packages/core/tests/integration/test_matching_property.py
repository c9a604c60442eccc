"""Property test: the Lua claim agrees with the reference matcher (jobq.matching)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobq.broker import Broker
from jobq.matching import can_run, match_tier
from jobq.models import Requirements, WorkerCapabilities

CAPS = ["a", "b", "c"]
MODELS = ["sdxl", "flux"]
POOLS = ["fast-lane", "standard", "heavy"]
CUSTOMERS = ["acme", "bank"]

requirements = st.builds(
    Requirements,
    gpu_memory=st.sampled_from([0, 8, 16, 24]),
    model_type=st.none() | st.sampled_from(MODELS),
    capabilities=st.lists(st.sampled_from(CAPS), max_size=2),
    pool_preference=st.none() | st.sampled_from(POOLS),
    pool_strict=st.booleans(),
    customer_id=st.none() | st.sampled_from(CUSTOMERS),
    isolation=st.sampled_from(["shared", "dedicated"]),
    service=st.none() | st.just("comfyui"),
)
workers = st.builds(
    WorkerCapabilities,
    worker_id=st.sampled_from(["w1", "w2", "w3"]),
    gpu_memory=st.sampled_from([0, 8, 16, 24]),
    model_types=st.lists(st.sampled_from(MODELS), max_size=2),
    capabilities=st.lists(st.sampled_from(CAPS), max_size=3),
    services=st.lists(st.just("comfyui"), max_size=1),
    pool_type=st.none() | st.sampled_from(POOLS),
    customers_allowed=st.lists(st.sampled_from(CUSTOMERS), max_size=1),
    customers_denied=st.lists(st.sampled_from(CUSTOMERS), max_size=1),
)
jobs = st.lists(st.tuples(requirements, st.integers(0, 100)), min_size=1, max_size=12)


def reference_order(
    worker: WorkerCapabilities, pending: list[tuple[str, Requirements, int, int]]
) -> str | None:
    """The job a worker must get: claimable, pool tier, priority, then submission order."""
    ranked = [
        (tier, -priority, seq, job_id)
        for job_id, req, priority, seq in pending
        if (tier := match_tier(worker, req)) is not None
    ]
    return min(ranked)[3] if ranked else None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=jobs, fleet=st.lists(workers, min_size=1, max_size=3))
async def test_lua_claim_matches_the_reference(
    broker: Broker, batch: list[tuple[Requirements, int]], fleet: list[WorkerCapabilities]
) -> None:
    await broker.redis.flushdb()
    specs: list[dict[str, Any]] = [
        {"type": "simulation", "priority": priority, "requirements": req.model_dump()}
        for req, priority in batch
    ]
    ids = [r.job_id for r in await broker.submit_many(specs)]
    pending = [(ids[i], req, prio, i) for i, (req, prio) in enumerate(batch)]
    claimed: list[str] = []
    # Workers take turns until nobody can claim anything.
    progress = True
    while progress:
        progress = False
        for worker in fleet:
            expected = reference_order(worker, pending)
            got = [j.id for j in (await broker.claim(worker)).jobs]
            assert got == ([expected] if expected else [])
            if got:
                progress = True
                claimed.extend(got)
                pending = [p for p in pending if p[0] != got[0]]
    assert len(claimed) == len(set(claimed))  # no job claimed twice
    # Every job some worker can run was claimed; the rest are exactly the unrunnable ones.
    for _job_id, req, _, _ in pending:
        assert not any(can_run(w, req) for w in fleet)
