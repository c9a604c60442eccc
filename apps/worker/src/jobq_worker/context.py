"""What a handler receives: the job, a progress call and the cancellation flag."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from jobq.models import ClaimedJob
from jobq_worker.errors import JobCancelled

ProgressSink = Callable[[str, int, int, str | None], None]
ParentResults = Callable[[ClaimedJob], Awaitable[dict[str, Any]]]


class JobContext:
    """One attempt at one job, as its handler sees it.

    - ``ctx.job`` (with ``ctx.prompt``, ``ctx.parameters``): the claimed job;
    - ``ctx.progress(40, "denoising")``: report progress; never blocks (reports are
      coalesced and sent in the background), safe from any thread;
    - ``ctx.cancelled`` / ``ctx.raise_if_cancelled()``: for sync handlers, which run in a
      thread and cannot be interrupted: check it between steps. (Async handlers are
      cancelled: they see :class:`asyncio.CancelledError`.) ``ctx.stop_reason`` says why:
      ``cancelled``, ``timeout``, ``lease_lost`` or ``shutdown``.
    """

    def __init__(
        self,
        job: ClaimedJob,
        *,
        worker_id: str,
        loop: asyncio.AbstractEventLoop,
        progress_sink: ProgressSink,
        parent_results: ParentResults,
        logger: logging.Logger | None = None,
    ) -> None:
        self.job = job
        self.worker_id = worker_id
        self.stop_reason: str | None = None
        self._logger = logger
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._sink = progress_sink
        self._parent_results = parent_results
        # A plain flag: handler threads read it; one attribute write is atomic.
        self._cancelled = False

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose lines carry the job id, type and worker id."""
        return logging.LoggerAdapter(
            self._logger or logging.getLogger("jobq_worker.job"),
            {"job_id": self.job.id, "job_type": self.job.type, "worker_id": self.worker_id},
        )

    @property
    def id(self) -> str:
        """The job id."""
        return self.job.id

    @property
    def type(self) -> str:
        """The job type."""
        return self.job.type

    @property
    def prompt(self) -> str | None:
        """The job's prompt, if any."""
        return self.job.prompt

    @property
    def parameters(self) -> dict[str, Any]:
        """The job's parameters."""
        return self.job.parameters

    @property
    def attempt(self) -> int:
        """1 for the first attempt, 2 for the first retry, ..."""
        return self.job.retry_count + 1

    def progress(self, percent: float, message: str | None = None) -> None:
        """Report progress (0-100). Returns at once; the latest report of a job is sent
        in the background, earlier ones that were not sent yet are dropped."""
        if not isinstance(percent, int | float) or math.isnan(percent):
            raise ValueError(f"progress must be a number from 0 to 100, not {percent!r}")
        if not 0 <= percent <= 100:
            raise ValueError(f"progress must be from 0 to 100, not {percent}")
        value = int(percent)
        if threading.get_ident() == self._loop_thread:
            self._sink(self.job.id, self.job.token, value, message)
        else:
            self._loop.call_soon_threadsafe(self._sink, self.job.id, self.job.token, value, message)

    @property
    def cancelled(self) -> bool:
        """True once the worker was told to stop this job (see ``stop_reason``)."""
        return self._cancelled

    def raise_if_cancelled(self) -> None:
        """Raise :class:`JobCancelled` when the job must stop (for sync handlers)."""
        if self._cancelled:
            raise JobCancelled(f"job {self.job.id}: {self.stop_reason}")

    async def parent_results(self) -> dict[str, Any]:
        """For a workflow step: the results of the steps it depends on, by job id."""
        return await self._parent_results(self.job)

    def _stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self._cancelled = True
