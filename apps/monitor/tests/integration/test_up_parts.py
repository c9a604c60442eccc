"""`jobq up` parts that need a server: demo traffic, local and embedded Redis, ports."""

from __future__ import annotations

import asyncio
import random
import socket
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from jobq.broker import Broker
from jobq_monitor import up


async def test_demo_traffic_submits_jobs_and_a_workflow_until_stopped(broker: Broker) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        up.demo_traffic(broker, interval=0.02, rng=random.Random(1), stop=stop)
    )
    deadline = asyncio.get_running_loop().time() + 20
    while len((await broker.list_jobs(limit=50)).jobs) < 10:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    jobs = (await broker.list_jobs(limit=100)).jobs
    steps = [j for j in jobs if j.workflow_id]
    assert len(steps) == 4  # one demo workflow (the next is due much later)
    singles = [j for j in jobs if not j.workflow_id]
    assert all(j.metadata == {"source": "jobq up --demo"} for j in singles)


async def test_demo_traffic_survives_a_redis_error(
    broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = asyncio.Event()
    calls = 0

    async def broken(spec: object) -> object:
        nonlocal calls
        calls += 1
        stop.set()
        raise ConnectionError("Redis went away")

    broker.submit = broken  # type: ignore[method-assign]
    await asyncio.wait_for(up.demo_traffic(broker, interval=0.01, stop=stop), 10)
    assert calls == 1
    assert "demo submission failed: Redis went away" in capsys.readouterr().err


async def _ping(url: str) -> bool:
    client = Redis.from_url(url)
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


async def test_a_local_redis_server_in_a_temp_dir(tmp_path: Path) -> None:
    handle = up.start_redis(tmp_path / "redis", {})
    try:
        assert "(temporary)" in handle.kind
        assert await _ping(handle.url)
    finally:
        handle.stop()
    with pytest.raises(RedisConnectionError, match="connecting to"):
        await _ping(handle.url)


async def test_the_embedded_fallback_warns_and_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(up.shutil, "which", lambda name: None)
    with pytest.warns(up.EmbeddedRedisWarning, match="EMBEDDED"):
        handle = up.start_redis(Path("unused"), {})
    try:
        assert handle.kind.startswith("embedded")
        broker = Broker.from_url(handle.url)
        try:
            submitted = await broker.submit({"type": "simulation"})
            assert (await broker.get_job(submitted.job_id)).status == "pending"
        finally:
            await broker.close()
    finally:
        handle.stop()


def test_a_busy_port_is_replaced_by_a_free_one() -> None:
    with socket.socket() as busy:
        busy.bind((up.LOCALHOST, 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert up.port_or_free(taken) != taken
        up.wait_for_port(taken, timeout=5, alive=lambda: True)
    free = up.free_port()
    assert up.port_or_free(free) == free
    assert up.port_or_free(0) > 0
    with pytest.raises(RuntimeError, match="exited"):
        up.wait_for_port(free, timeout=5, alive=lambda: False)
    with pytest.raises(TimeoutError):
        up.wait_for_port(free, timeout=0.2, alive=lambda: True)


def test_no_redis_at_all_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_fakeredis(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("fakeredis"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(up.shutil, "which", lambda name: None)
    monkeypatch.setattr(builtins, "__import__", no_fakeredis)
    with pytest.raises(RuntimeError, match="jobq-monitor\\[embedded\\]"):
        up.start_redis(Path("unused"), {})
