"""The worker registry and queue statistics."""

from __future__ import annotations

import asyncio
from typing import Any

from jobq.broker import Broker
from jobq.models import WorkerCapabilities


async def test_workers_register_heartbeat_and_go_offline(make_broker: Any) -> None:
    broker: Broker = await make_broker(worker_offline_seconds=0.1, lease_seconds=0.1)
    gpu = WorkerCapabilities(worker_id="gpu-1", capabilities=["simulation"], gpu_memory=24)
    await broker.register_worker(gpu)
    await broker.submit({"type": "simulation"})
    job = (await broker.claim(gpu)).jobs[0]
    [info] = await broker.list_workers()
    assert info.status == "online"
    assert info.current_jobs == [job.id]
    assert info.capabilities.gpu_memory == 24
    await asyncio.sleep(0.15)
    tick = await broker.tick()
    assert tick.went_offline == 1
    assert tick.reaped == 1  # its lease expired with it
    [info] = await broker.list_workers()
    assert info.status == "offline"
    assert (await broker.tick()).went_offline == 0  # reported once
    await broker.heartbeat("gpu-1", {})
    types = [e.type for e in await broker.read_events()]
    assert types.count("worker_disconnected") == 1
    assert types.count("worker_connected") == 2  # registered, then came back
    assert await broker.deregister_worker("gpu-1") is True
    assert await broker.deregister_worker("gpu-1") is False
    assert await broker.list_workers() == []


async def test_queue_stats_flag_shapes_no_live_worker_can_run(broker: Broker) -> None:
    await broker.register_worker(WorkerCapabilities(worker_id="w", capabilities=["simulation"]))
    await broker.submit_many(
        [
            {
                "type": "simulation",
                "requirements": {"capabilities": ["simulation"], "pool_preference": "fast-lane"},
            },
            {"type": "simulation", "requirements": {"capabilities": ["video"], "gpu_memory": 80}},
            {"type": "simulation", "delay": 60},
        ]
    )
    stats = await broker.queue_stats()
    runnable = {tuple(s.requirements.capabilities): s.runnable_by for s in stats.shapes}
    assert runnable[("video",)] == []
    assert runnable[("simulation",)] == ["w"]
    assert stats.pools == {"fast-lane": 1, "any": 1}
    assert stats.delayed == 1
    assert stats.by_status["pending"] == 2
