"""Progress reports sent in the background, coalesced per job.

A handler's ``ctx.progress(...)`` only records the latest value; a single task sends
what is pending at most every ``interval`` seconds, so a handler that reports a
thousand times a second costs a handful of Redis calls and never waits for one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from jobq.broker import Broker
from jobq.errors import JobqError
from jobq_worker.transient import TRANSIENT_ERRORS

log = logging.getLogger("jobq_worker.progress")


@dataclass(frozen=True)
class Report:
    """The latest unsent progress of one job. ``auto``: the worker's own "started"
    report, sent only when the job is still running after one interval."""

    token: int
    percent: int
    message: str | None
    auto: bool = False


class ProgressReporter:
    """Collects progress reports and sends the latest of each job in the background."""

    def __init__(self, broker: Broker, *, interval: float = 0.1) -> None:
        self.broker = broker
        self.interval = interval
        self._pending: dict[str, Report] = {}
        self._wake = asyncio.Event()
        self._unreachable = False
        self.sent = 0

    def report(self, job_id: str, token: int, percent: int, message: str | None) -> None:
        """Record a handler's progress (called on the event loop's thread)."""
        self._pending[job_id] = Report(token, percent, message)
        self._wake.set()

    def started(self, job_id: str, token: int) -> None:
        """Record that a job started: it shows as ``running`` if it runs for a while."""
        self._pending.setdefault(job_id, Report(token, 0, None, auto=True))
        self._wake.set()

    async def finish(self, job_id: str) -> None:
        """Before a job's completion: send its last progress report if the handler made
        one that was not sent yet; drop the worker's own "started" report."""
        report = self._pending.pop(job_id, None)
        if report is not None and not report.auto:
            await self._send(job_id, report)

    def forget(self, job_id: str) -> None:
        """Drop what is pending for a job that stopped."""
        self._pending.pop(job_id, None)

    async def run(self) -> None:
        """Send pending reports until cancelled."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.interval)  # let reports coalesce
            self._wake.clear()
            batch, self._pending = self._pending, {}
            await asyncio.gather(*(self._send(job_id, r) for job_id, r in batch.items()))

    async def _send(self, job_id: str, report: Report) -> None:
        try:
            await self.broker.progress(
                job_id, report.percent, token=report.token, message=report.message
            )
            self.sent += 1
            self._unreachable = False
        except JobqError as exc:  # the job finished, was cancelled or its lease is gone
            log.debug("progress not recorded", extra={"job_id": job_id, "reason": exc.message})
        except Exception as exc:
            if not isinstance(exc, TRANSIENT_ERRORS):
                log.exception("progress not sent", extra={"job_id": job_id})
                return
            if not self._unreachable:  # once per outage
                log.warning("progress not sent: Redis unreachable", extra={"error": str(exc)})
            self._unreachable = True
            self._pending.setdefault(job_id, report)  # sent again unless superseded
            self._wake.set()
