"""Events: one per transition, in the same atomic call; resumable by id."""

from __future__ import annotations

import asyncio

import pytest

from jobq.broker import Broker
from jobq.errors import InvalidState, LeaseLost
from jobq.models import WorkerCapabilities

W = WorkerCapabilities(worker_id="w", capabilities=["simulation"])


async def test_every_transition_emits_one_event_in_order(broker: Broker) -> None:
    submitted = await broker.submit({"type": "simulation"})
    job = (await broker.claim(W)).jobs[0]
    for pct in (20, 40, 60, 80, 99):
        await broker.progress(job.id, pct, token=job.token)
    await broker.complete(job.id, {"answer": 42}, token=job.token)
    events = [e for e in await broker.read_events() if e.job_id == submitted.job_id]
    assert [e.type for e in events] == ["job_submitted", "job_assigned"] + ["job_progress"] * 5 + [
        "job_completed"
    ]
    assert [e.data["progress"] for e in events if e.type == "job_progress"] == [20, 40, 60, 80, 99]
    assert events[-1].data == {"result": {"answer": 42}}
    assert events[1].worker_id == "w"
    message = events[-1].to_message()
    assert message["type"] == "job_completed"
    assert message["result"] == {"answer": 42}
    assert message["event_id"] == events[-1].event_id
    first = events[0].to_message()
    assert (first["type"], first["job_type"], first["status"]) == (
        "job_submitted",
        "simulation",
        "pending",
    )


async def test_rejected_transitions_emit_nothing(broker: Broker) -> None:
    submitted = await broker.submit({"type": "simulation"})
    before = await broker.last_event_id()
    with pytest.raises(LeaseLost):
        await broker.complete(submitted.job_id, {})
    with pytest.raises(InvalidState):
        await broker.retry(submitted.job_id)
    assert await broker.read_events(before) == []


async def test_resume_from_an_event_id_misses_nothing_and_repeats_nothing(broker: Broker) -> None:
    ids = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 3)]
    first = await broker.read_events(count=2)
    rest = await broker.read_events(first[-1].event_id)
    assert [e.job_id for e in first + rest] == ids


async def test_wait_for_sees_a_completion_that_happens_while_waiting(broker: Broker) -> None:
    submitted = await broker.submit({"type": "simulation"})

    async def finish_soon() -> None:
        await asyncio.sleep(0.05)
        job = (await broker.claim(W)).jobs[0]
        await broker.complete(job.id, {"done": True}, token=job.token)

    task = asyncio.create_task(finish_soon())
    job = await broker.wait_for(submitted.job_id, timeout=5)
    await task
    assert job.result == {"done": True}


async def test_iter_events_follows_the_stream(broker: Broker) -> None:
    since = await broker.last_event_id()
    await broker.submit({"type": "simulation"})
    stream = broker.iter_events(since)
    event = await anext(stream)
    assert event.type == "job_submitted"
    await stream.aclose()  # type: ignore[attr-defined]


async def test_claim_on_empty_queue_returns_the_stream_position_to_block_on(broker: Broker) -> None:
    batch = await broker.claim(W)
    assert batch.jobs == []
    assert batch.resume_from == await broker.last_event_id()
    waiter = asyncio.create_task(broker.read_events(batch.resume_from or "0-0", block=5))
    await asyncio.sleep(0.02)
    await broker.submit({"type": "simulation"})
    woken = await asyncio.wait_for(waiter, 5)
    assert [e.type for e in woken] == ["job_submitted"]


async def test_a_blocking_read_longer_than_redis_pys_default_timeout(broker: Broker) -> None:
    """redis-py 8 gives up on a socket after 5 s unless told otherwise; event reads block
    for longer than that, so jobq's clients must not time out while nothing happens."""
    start = asyncio.get_running_loop().time()
    events = await broker.read_events("$", block=5.5)
    assert events == []
    assert asyncio.get_running_loop().time() - start >= 5.4
