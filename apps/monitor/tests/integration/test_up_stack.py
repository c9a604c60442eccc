"""`jobq up`'s stack in-process: it starts the monitor and a worker on the test's Redis,
sends demo traffic, and stops every child when asked or when the monitor dies."""

from __future__ import annotations

import asyncio
import os
import urllib.request

from jobq.broker import Broker
from jobq.settings import CoreSettings
from jobq_monitor.up import Stack, UpOptions, run


def _stack(settings: CoreSettings, lines: list[str], **options: object) -> Stack:
    environ = {
        **os.environ,
        "JOBQ_REDIS_URL": settings.redis_url,
        "JOBQ_NAMESPACE": settings.namespace,
        "JOBQ_API_KEYS": "stack-key",
    }
    opts = UpOptions(api_port=0, monitor_port=0, **options)  # type: ignore[arg-type]
    return Stack(opts, environ=environ, out=lines.append)


async def _until(condition: object, seconds: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_the_stack_runs_until_stopped(core_settings: CoreSettings, broker: Broker) -> None:
    lines: list[str] = []
    stack = _stack(core_settings, lines, workers=1, demo=True)
    stop = asyncio.Event()
    task = asyncio.create_task(run(stack, stop))
    try:
        await _until(lambda: any("Press Ctrl-C" in line for line in lines) or task.done())
        assert not task.done(), "\n".join(lines)
        assert "API key   stack-key" in "\n".join(lines)
        monitor = stack.url("monitor")
        assert monitor is not None
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(monitor + "/health", timeout=10).read()  # noqa: S310
        )
        assert body == b"ok"
        # The demo traffic reaches the worker: something completes.
        deadline = asyncio.get_running_loop().time() + 40
        while (await broker.count_by_status())["completed"] == 0:
            assert asyncio.get_running_loop().time() < deadline, "\n".join(lines)
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        code = await asyncio.wait_for(task, 60)
    assert code == 0
    assert all(not child.alive() for child in stack.children)
    assert lines[-1] == "jobq up: stopped."


async def test_the_stack_stops_when_the_monitor_dies(core_settings: CoreSettings) -> None:
    lines: list[str] = []
    stack = _stack(core_settings, lines, workers=0)
    task = asyncio.create_task(run(stack))
    await _until(lambda: any("Press Ctrl-C" in line for line in lines) or task.done())
    [monitor] = [c for c in stack.children if c.name == "monitor"]
    assert monitor.process is not None
    monitor.process.kill()
    assert await asyncio.wait_for(task, 60) == 1
    assert all(not child.alive() for child in stack.children)
    assert any("jobq monitor exited" in line for line in lines)
