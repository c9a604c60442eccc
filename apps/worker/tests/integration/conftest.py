"""Fixtures for the worker's integration tests: in-process workers on the test's Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from jobq.broker import Broker
from jobq.models import ClaimedJob, JobStatus, WorkerCapabilities
from jobq_testing.core import BrokerFactory
from jobq_worker import JobContext, Worker, WorkerOptions

StartWorker = Callable[..., Awaitable[Worker]]


@pytest_asyncio.fixture
async def start_worker(make_broker: BrokerFactory) -> AsyncIterator[StartWorker]:
    """``await start_worker(handlers={...}, capabilities=[...], **options)``: a Worker on
    its own broker, running in a task until the test ends (then drained at once)."""
    running: list[tuple[Worker, asyncio.Task[None]]] = []

    async def factory(
        *,
        handlers: dict[str, Any] | None = None,
        fallback: Any = None,
        capabilities: list[str] | None = None,
        worker_id: str | None = None,
        broker: Broker | None = None,
        start: bool = True,
        **options: Any,
    ) -> Worker:
        caps = WorkerCapabilities(
            worker_id=worker_id or f"w{len(running) + 1}",
            capabilities=capabilities if capabilities is not None else sorted(handlers or {}),
        )
        worker = Worker(
            broker or await make_broker(),
            caps,
            options=WorkerOptions(**{"poll_interval": 30.0, **options}),
            handlers=handlers,
            fallback=fallback,
        )
        if start:
            task = asyncio.create_task(worker.run())
            running.append((worker, task))
        return worker

    yield factory
    for worker, _ in running:
        worker.request_stop(0)
    for _, task in running:
        await asyncio.wait_for(task, timeout=30)


ServeApp = Callable[[Any], Awaitable[str]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[ServeApp]:
    """``base_url = await serve(app)``: run an ASGI app with uvicorn on a free local port
    (in this event loop) until the test ends."""
    import uvicorn

    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(app: Any) -> str:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
            ws="websockets-sansio",
        )  # fmt: skip
        server = uvicorn.Server(config)
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        servers.append((server, task))
        port = server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for server, task in servers:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
def progress_log() -> list[tuple[str, int, int, str | None]]:
    """Progress reports made through contexts from ``make_ctx``."""
    return []


@pytest.fixture
def make_ctx(progress_log: list[tuple[str, int, int, str | None]]) -> Callable[..., JobContext]:
    """``make_ctx(type=..., prompt=..., parameters=...)``: a context for calling a connector
    directly (progress goes to ``progress_log``)."""

    async def no_parents(job: ClaimedJob) -> dict[str, Any]:
        return {}

    def factory(**fields: Any) -> JobContext:
        job = ClaimedJob.model_validate(
            {"id": "job-1", "type": "simulation", "status": JobStatus.ASSIGNED, "priority": 50,
             "created_at": datetime.now(UTC), "token": 1, **fields}
        )  # fmt: skip
        return JobContext(
            job,
            worker_id="w1",
            loop=asyncio.get_running_loop(),
            progress_sink=lambda *report: progress_log.append(report),
            parent_results=no_parents,
        )

    return factory
