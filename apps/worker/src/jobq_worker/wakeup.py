"""Waiting for work without polling: block on the event stream until something that
may be claimable shows up, with a bounded fallback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time

from jobq.broker import Broker
from jobq.models import Event
from jobq_worker.transient import TRANSIENT_ERRORS

log = logging.getLogger("jobq_worker.wakeup")

#: Events after which a job may be pending: submitted, dependencies done or backoff
#: over (job_ready), handed back by a draining worker, retried by hand.
WAKE_EVENTS = frozenset({"job_submitted", "job_ready", "job_released", "job_retried"})
#: Longest single blocking read. redis-py (>= 6) gives connections a 5 s socket timeout
#: by default, which a longer XREAD BLOCK would run into.
MAX_BLOCK = 2.0


async def wait_for_work(
    broker: Broker, since: str | None, *, timeout: float, stop: asyncio.Event
) -> str:
    """Block until an event after ``since`` may mean claimable work, ``timeout`` seconds
    pass (the fallback poll) or ``stop`` is set. Returns why: ``"event"``, ``"timeout"``,
    ``"stop"`` or ``"error"`` (Redis unreachable: the caller backs off).

    A failed attempt that will be retried shortens the wait to its backoff, so the
    claim that follows (which promotes due jobs) finds the retry on time."""
    deadline = time.monotonic() + timeout
    cursor = since or "$"
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            read = asyncio.ensure_future(
                broker.read_events(cursor, count=200, block=min(remaining, MAX_BLOCK))
            )
            await asyncio.wait([read, stopped], return_when=asyncio.FIRST_COMPLETED)
            if not read.done():
                read.cancel()  # a blocked read is safe to abandon: it changes nothing
                with contextlib.suppress(asyncio.CancelledError, *TRANSIENT_ERRORS):
                    await read
                return "stop"
            try:
                events = read.result()
            except TRANSIENT_ERRORS as exc:
                log.warning("waiting for work: Redis unreachable", extra={"error": str(exc)})
                return "error"
            if not events:
                continue
            cursor = events[-1].event_id
            if any(event.type in WAKE_EVENTS for event in events):
                return "event"
            deadline = min(deadline, _retry_due(events))
        return "stop"
    finally:
        stopped.cancel()


def _retry_due(events: list[Event]) -> float:
    """When the soonest retry announced in ``events`` is due (monotonic), or infinity."""
    due = math.inf
    for event in events:
        delay = event.data.get("retry_in_ms") if event.type == "job_failed" else None
        if isinstance(delay, int | float):
            due = min(due, time.monotonic() + delay / 1000 + 0.005)
    return due
