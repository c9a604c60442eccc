"""The worker: claims the jobs it can run and runs many of them at once.

    worker = Worker.from_url("redis://localhost:6379/0",
                             WorkerCapabilities(worker_id="w1", capabilities=["upscale"]))

    @worker.handler("upscale")
    async def upscale(ctx: JobContext) -> dict[str, Any]:
        ctx.progress(50)
        return {"url": "..."}

    await worker.run(handle_signals=True)

Three loops share one event loop: claiming (batches of up to the free slots; when
nothing is claimable it blocks on the event stream until a job may be, with a bounded
fallback), heartbeats (renew every held lease; the reply names jobs that were
cancelled, timed out or lost, whose handlers are then stopped), and progress reports.
SIGTERM drains: no more claims, running jobs get ``grace_period`` seconds, then the
rest are handed back to pending without using up a retry. A second SIGTERM (or
SIGINT) hands them back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial
from typing import Any, Self

from redis.exceptions import RedisError

from jobq.broker import Broker
from jobq.errors import JobqError
from jobq.models import ClaimedJob, WorkerCapabilities
from jobq.settings import CoreSettings
from jobq_worker.completions import Completer
from jobq_worker.context import JobContext
from jobq_worker.errors import ConfigError
from jobq_worker.execution import JobRunner, RunningJob, Stats
from jobq_worker.handlers import HandlerFunc, HandlerRegistry
from jobq_worker.options import WorkerOptions
from jobq_worker.progress import ProgressReporter
from jobq_worker.transient import Backoff
from jobq_worker.wakeup import wait_for_work

log = logging.getLogger("jobq_worker.worker")

#: Housekeeping (``Broker.tick``) runs about this often on every worker.
TICK_SECONDS = 5.0


def default_worker_id() -> str:
    """``<hostname>-<pid>``."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker:
    """A worker process's runtime: handlers per job type, claims, heartbeats, drain."""

    def __init__(
        self,
        broker: Broker,
        capabilities: WorkerCapabilities | None = None,
        *,
        options: WorkerOptions | None = None,
        handlers: Mapping[str, HandlerFunc] | None = None,
        fallback: HandlerFunc | None = None,
        owns_broker: bool = False,
    ) -> None:
        self.broker = broker
        self.options = options or WorkerOptions()
        caps = capabilities or WorkerCapabilities(worker_id=default_worker_id())
        self.capabilities = caps.model_copy(update={"concurrency": self.options.concurrency})
        self.lease = self.options.lease or broker.settings.lease_seconds
        self.registry = HandlerRegistry()
        for job_type, func in (handlers or {}).items():
            self.registry.add(job_type, func)
        self.registry.set_fallback(fallback)
        self.stats = Stats()
        self._owns_broker = owns_broker
        self._running: dict[str, RunningJob] = {}
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._drain_deadline = 0.0
        self._started = False
        self._pool: Executor | None = None
        self._progress = ProgressReporter(broker, interval=self.options.progress_interval)
        self._completer = Completer(broker)
        self._runner = JobRunner(
            broker,
            worker_id=self.worker_id,
            registry=self.registry,
            progress=self._progress,
            completer=self._completer,
            max_result_bytes=self.options.max_result_bytes,
            pool=self._executor,
            stats=self.stats,
        )

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        capabilities: WorkerCapabilities | None = None,
        *,
        settings: CoreSettings | None = None,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> Self:
        """A worker with its own broker (closed when :meth:`run` returns)."""
        broker = Broker.from_url(url, namespace=namespace, settings=settings)
        return cls(broker, capabilities, owns_broker=True, **kwargs)

    # ------------------------------------------------------------------ handlers
    @property
    def worker_id(self) -> str:
        """This worker's id."""
        return self.capabilities.worker_id

    def handler(self, job_type: str) -> Callable[[HandlerFunc], HandlerFunc]:
        """Decorator: register the function as the handler of ``job_type``. Async
        functions run on the event loop, plain ones in a thread pool."""

        def register(func: HandlerFunc) -> HandlerFunc:
            self.registry.add(job_type, func)
            return func

        return register

    def add_handler(self, job_type: str, func: HandlerFunc) -> None:
        """Register ``func`` as the handler of ``job_type``."""
        self.registry.add(job_type, func)

    def set_fallback(self, func: HandlerFunc | None) -> None:
        """Run ``func`` for every job type without a handler of its own."""
        self.registry.set_fallback(func)

    @property
    def running_jobs(self) -> list[str]:
        """Ids of the jobs this worker holds right now."""
        return list(self._running)

    # ------------------------------------------------------------------ lifecycle
    async def run(self, *, handle_signals: bool = False) -> None:
        """Register, work until :meth:`request_stop` (or SIGTERM/SIGINT when
        ``handle_signals``), drain, deregister."""
        if self._started:
            raise RuntimeError("a Worker runs once; make a new one")
        if not self.registry.job_types and self.registry.fallback is None:
            raise ConfigError("the worker has no handlers: register one per job type")
        self._started = True
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        try:
            if await self._register():
                await self._work()
        finally:
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)
            await self._close()
        log.info("worker stopped", extra={"worker_id": self.worker_id, **self.stats.as_dict()})

    def request_stop(self, grace: float | None = None) -> None:
        """Stop claiming and drain: running jobs get ``grace`` seconds (default: the
        ``grace_period`` option), then are handed back. A second call hands back at once."""
        if not self._stop.is_set():
            period = self.options.grace_period if grace is None else grace
            self._drain_deadline = time.monotonic() + period
            self._stop.set()
            log.info(
                "worker draining",
                extra={"worker_id": self.worker_id, "running": len(self._running),
                       "grace_period": period},
            )  # fmt: skip
        else:
            self._drain_deadline = time.monotonic()
            self._hurry.set()

    async def _register(self) -> bool:
        backoff = Backoff(maximum=5.0)
        while not self._stop.is_set():
            try:
                await self.broker.register_worker(self.capabilities)
            except RedisError as exc:
                log.warning("cannot register yet: retrying", extra={"error": str(exc)})
                await _sleep_unless(self._stop, backoff.next())
                continue
            log.info(
                "worker ready",
                extra={"worker_id": self.worker_id, "pid": os.getpid(),
                       "capabilities": self.capabilities.model_dump(exclude_defaults=True),
                       "handlers": self.registry.job_types, "lease": self.lease},
            )  # fmt: skip
            return True
        return False

    async def _work(self) -> None:
        background = [
            asyncio.create_task(self._heartbeat_loop(), name="jobq-heartbeat"),
            asyncio.create_task(self._progress.run(), name="jobq-progress"),
        ]
        try:
            await self._claim_loop()
        finally:
            await self._drain()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        try:
            await self.broker.deregister_worker(self.worker_id, reason="shutdown")
        except RedisError as exc:
            log.warning("could not deregister", extra={"error": str(exc)})

    async def _close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for func in self.registry.functions():
            closer = getattr(func, "aclose", None)
            if closer is not None and inspect.iscoroutinefunction(closer):
                with contextlib.suppress(Exception):
                    await closer()
        if self._owns_broker:
            await self.broker.close()

    def _executor(self) -> Executor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.options.concurrency, thread_name_prefix="jobq-handler"
            )
        return self._pool

    # ------------------------------------------------------------------ claiming
    async def _claim_loop(self) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            free = self.options.concurrency - len(self._running)
            if free <= 0:
                self._slot_freed.clear()
                await _first_of(self._slot_freed, self._stop)
                continue
            try:
                batch = await self.broker.claim(
                    self.capabilities, max_jobs=min(free, self.options.batch_size), lease=self.lease
                )
            except (RedisError, JobqError) as exc:
                log.warning("claim failed: retrying", extra={"error": str(exc)})
                await _sleep_unless(self._stop, backoff.next())
                continue
            backoff.reset()
            if self._stop.is_set():
                for job in batch.jobs:  # claimed while the stop came: straight back
                    self._start(job).stop("shutdown")
                return
            if batch.jobs:
                for job in batch.jobs:
                    self._start(job)
                # Let them start before claiming again: a quick job's completion is then
                # sent ahead of the next claim (two steps: the job, then its completer).
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                continue
            why = await wait_for_work(
                self.broker, batch.resume_from, timeout=self.options.poll_interval, stop=self._stop
            )
            if why == "error":
                await _sleep_unless(self._stop, backoff.next())

    def _start(self, job: ClaimedJob) -> RunningJob:
        ctx = JobContext(
            job,
            worker_id=self.worker_id,
            loop=asyncio.get_running_loop(),
            progress_sink=self._progress.report,
            parent_results=self.broker.parent_results,
        )
        running = RunningJob(job, ctx)
        earlier = self._running.get(job.id)
        if earlier is not None and earlier.stop("lease_lost"):  # claimed again: that lease is gone
            log.warning("job claimed again while an earlier attempt ran", extra={"job_id": job.id})
        self._running[job.id] = running
        self.stats.claimed += 1
        running.task = asyncio.create_task(self._runner.run(running))
        running.task.add_done_callback(partial(self._job_done, running))
        return running

    def _job_done(self, running: RunningJob, task: asyncio.Task[None]) -> None:
        if self._running.get(running.job.id) is running:
            del self._running[running.job.id]
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "job runner crashed", extra={"job_id": running.job.id}, exc_info=task.exception()
            )

    # ------------------------------------------------------------------ heartbeats
    async def _heartbeat_loop(self) -> None:
        interval = self.options.effective_heartbeat(self.lease)
        next_tick = time.monotonic() + TICK_SECONDS
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat()
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + TICK_SECONDS
                    await self.broker.tick()
            except Exception:  # a heartbeat must never stop for good
                log.exception("heartbeat loop error")

    async def heartbeat(self) -> dict[str, str]:
        """Renew the leases of every held job now; stop the handlers of the jobs the
        broker names (cancelled, timed out, lease lost). Returns those."""
        held = {job_id: running.job.token for job_id, running in self._running.items()}
        try:
            lost = await self.broker.heartbeat(self.worker_id, held, lease=self.lease)
        except RedisError as exc:
            log.warning("heartbeat failed", extra={"error": str(exc)})
            return {}
        for job_id, reason in lost.items():
            running = self._running.get(job_id)
            if running is not None and running.stop(reason):
                log.info("stopping job", extra={"job_id": job_id, "reason": reason})
        return lost

    # ------------------------------------------------------------------ draining
    async def _drain(self) -> None:
        while True:
            active = [r.task for r in self._running.values() if r.task and not r.finishing]
            remaining = self._drain_deadline - time.monotonic()
            if not active or remaining <= 0:
                break
            self._hurry.clear()
            hurry = asyncio.ensure_future(self._hurry.wait())
            await asyncio.wait([*active, hurry], timeout=remaining, return_when="FIRST_COMPLETED")
            hurry.cancel()
        for running in list(self._running.values()):
            running.stop("shutdown")
        tasks = [r.task for r in self._running.values() if r.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._completer.wait_idle()


async def _first_of(*events: asyncio.Event) -> None:
    """Wait until any of ``events`` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
