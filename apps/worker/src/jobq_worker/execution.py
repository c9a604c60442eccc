"""Running one claimed job: its handler under the job's timeout, then its outcome
(completed, failed, handed back) reported to the broker."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from jobq.broker import Broker
from jobq.errors import JobqError
from jobq.models import ClaimedJob
from jobq_worker.completions import Completer
from jobq_worker.context import JobContext
from jobq_worker.errors import PermanentError
from jobq_worker.handlers import HandlerRegistry, to_result
from jobq_worker.progress import ProgressReporter
from jobq_worker.transient import TRANSIENT_ERRORS, Backoff

log = logging.getLogger("jobq_worker.execution")

#: How long a failure or hand-back is retried while Redis is unreachable.
REPORT_RETRY_SECONDS = 60.0


@dataclass
class Stats:
    """What a worker did so far."""

    claimed: int = 0
    completed: int = 0
    failed: int = 0
    released: int = 0
    stopped: int = 0
    lost: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return dict(self.__dict__)


@dataclass
class RunningJob:
    """A claimed job the worker holds: its context, its task, and whether its handler
    is done (``finishing``: only the completion is still on its way)."""

    job: ClaimedJob
    ctx: JobContext
    claimed_at: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None
    started: bool = False
    finishing: bool = False

    def stop(self, reason: str) -> bool:
        """Stop the handler (``cancelled``, ``timeout``, ``lease_lost``, ``shutdown``).
        False when it already finished. A job whose task has not started yet is not
        cancelled (that would skip its reporting): it sees the reason when it starts."""
        if self.finishing or self.task is None or self.task.done():
            return False
        self.ctx._stop(reason)
        if self.started:
            self.task.cancel()
        return True

    def time_left(self) -> float | None:
        """Seconds left of the job's timeout (counted from the claim), or None."""
        if self.job.timeout is None:
            return None
        return self.job.timeout - (time.monotonic() - self.claimed_at)


class JobRunner:
    """Runs claimed jobs with the registered handlers and reports how they ended."""

    def __init__(
        self,
        broker: Broker,
        *,
        worker_id: str,
        registry: HandlerRegistry,
        progress: ProgressReporter,
        completer: Completer,
        max_result_bytes: int,
        pool: Callable[[], Executor],
        stats: Stats,
    ) -> None:
        self.broker = broker
        self.worker_id = worker_id
        self.registry = registry
        self.progress = progress
        self.completer = completer
        self.max_result_bytes = max_result_bytes
        self.pool = pool
        self.stats = stats

    async def run(self, running: RunningJob) -> None:
        """Run the job's handler and report the outcome; never raises for the job's sake."""
        job = running.job
        running.started = True
        stopped_early = running.ctx.stop_reason is not None
        if stopped_early:  # stopped before it began
            await self._stopped(running)
            return
        handler = self.registry.get(job.type)
        if handler is None:
            error = f"no handler for job type {job.type!r} on worker {self.worker_id}"
            await self._fail(running, error, retryable=True)
            return
        self.progress.started(job.id, job.token)
        deadline = asyncio.timeout(running.time_left()) if job.timeout else None
        try:
            if deadline is None:
                value = await handler.invoke(running.ctx, self.pool)
            else:
                async with deadline:
                    value = await handler.invoke(running.ctx, self.pool)
            result = to_result(value, max_bytes=self.max_result_bytes)
        except asyncio.CancelledError:
            if running.ctx.stop_reason is None:
                raise  # not a stop this worker asked for
            await self._stopped(running)
            return
        except Exception as exc:
            if deadline is not None and deadline.expired():
                running.ctx._stop("timeout")
                await self._fail(running, f"timed out after {job.timeout:g} s", retryable=True)
            else:
                error = f"{type(exc).__name__}: {exc}"
                retryable = not isinstance(exc, PermanentError)
                await self._fail(running, error, retryable=retryable, exc=exc)
            return
        running.finishing = True
        await self.progress.finish(job.id)
        if await self.completer.complete(job.id, job.token, result):
            self.stats.completed += 1
            log.debug("job completed", extra={"job_id": job.id})
        else:
            self.stats.lost += 1

    async def _stopped(self, running: RunningJob) -> None:
        job, reason = running.job, running.ctx.stop_reason
        self.progress.forget(job.id)
        if reason == "shutdown":
            why = f"worker {self.worker_id} shutting down"
            released = await self._report(
                job, "release", lambda: self.broker.release(job.id, token=job.token, reason=why)
            )
            if released:
                self.stats.released += 1
                log.info("job handed back", extra={"job_id": job.id})
            return
        self.stats.stopped += 1
        level = logging.WARNING if reason == "lease_lost" else logging.INFO
        log.log(level, "job stopped", extra={"job_id": job.id, "reason": reason})

    async def _fail(
        self, running: RunningJob, error: str, *, retryable: bool, exc: BaseException | None = None
    ) -> None:
        job = running.job
        running.finishing = True
        self.progress.forget(job.id)
        failed = await self._report(
            job,
            "fail",
            lambda: self.broker.fail(job.id, error, token=job.token, retryable=retryable),
        )
        if failed:
            self.stats.failed += 1
            traceback = exc if exc is not None and not isinstance(exc, PermanentError) else None
            log.warning(
                "job attempt failed",
                extra={"job_id": job.id, "job_type": job.type, "error": error,
                       "retryable": retryable},
                exc_info=traceback,
            )  # fmt: skip

    async def _report(self, job: ClaimedJob, what: str, call: Callable[[], Awaitable[Any]]) -> bool:
        """Make a fail/release call, retrying while Redis is unreachable. False when the
        broker refused it (the lease is gone) or Redis stayed away too long."""
        deadline = time.monotonic() + REPORT_RETRY_SECONDS
        backoff = Backoff()
        while True:
            try:
                await call()
                return True
            except JobqError as exc:
                extra = {"job_id": job.id, "code": exc.code, "reason": exc.message}
                log.info(f"{what} refused", extra=extra)
                return False
            except TRANSIENT_ERRORS as exc:
                if time.monotonic() > deadline:
                    log.error(f"{what} given up: Redis unreachable", extra={"job_id": job.id})
                    return False
                log.warning(f"{what}: Redis unreachable, retrying", extra={"error": str(exc)})
                await asyncio.sleep(backoff.next())
