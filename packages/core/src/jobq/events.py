"""Reading the event stream: resumable reads, live iteration, waiting for a job."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from jobq import codec
from jobq.errors import JobqError, ValidationFailed
from jobq.models import Event, Job

if TYPE_CHECKING:
    from jobq.broker import Broker

#: Event types after which a job does not change on its own.
TERMINAL_EVENTS = frozenset({"job_completed", "job_cancelled"})


EVENT_ID = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})$")


def parse_event_id(value: str, name: str = "since") -> tuple[int, int]:
    """A stream event id ``"<ms>-<seq>"`` as a comparable pair (``"0"`` is the start of
    the stream); :class:`~jobq.errors.ValidationFailed` naming ``name`` if malformed."""
    if value == "0":
        return (0, 0)
    match = EVENT_ID.match(value)
    if match is None:
        raise ValidationFailed(
            f"validation failed: {name} must be an event id like 1700000000000-0"
        )
    return int(match.group(1)), int(match.group(2))


class WaitTimeout(JobqError):
    """The job did not finish within the time given to :func:`wait_for_job`."""

    code = "TIMEOUT"
    http_status = 504


async def last_event_id(broker: Broker) -> str:
    """The id of the newest event ("0-0" when the stream is empty)."""
    newest = await broker.redis.xrevrange(broker.keys.events, count=1)
    return str(newest[0][0]) if newest else "0-0"


async def read_events(
    broker: Broker, since: str = "0-0", *, count: int = 500, block: float | None = None
) -> list[Event]:
    """Events after ``since`` (exclusive), oldest first; ``block`` waits up to that many
    seconds for the first one."""
    block_ms = None if block is None else max(1, round(block * 1000))
    reply: Any = await broker.redis.xread({broker.keys.events: since}, count=count, block=block_ms)
    if not reply:
        return []
    _, entries = reply[0]
    return [codec.event_from_entry(entry_id, fields) for entry_id, fields in entries]


async def iter_events(
    broker: Broker, since: str | None = None, *, block: float = 5.0
) -> AsyncIterator[Event]:
    """Every event after ``since`` (default: from now on), forever."""
    cursor = since if since is not None else await last_event_id(broker)
    while True:
        for event in await read_events(broker, cursor, block=block):
            cursor = event.event_id
            yield event


def _is_final(event: Event) -> bool:
    if event.type in TERMINAL_EVENTS:
        return True
    return event.type == "job_failed" and not event.data.get("will_retry", False)


async def wait_for_job(broker: Broker, job_id: str, *, timeout: float = 60.0) -> Job:
    """Wait until the job is completed, failed or cancelled; return it.

    Reads the stream position and the job in one round trip, then blocks on the
    stream for this job's final event, so a job that finishes in between is not missed.
    """
    deadline = time.monotonic() + timeout
    async with broker.redis.pipeline(transaction=True) as pipe:
        pipe.xrevrange(broker.keys.events, count=1)
        pipe.hgetall(broker.keys.job(job_id))
        newest, record = await pipe.execute()
    cursor = str(newest[0][0]) if newest else "0-0"
    job = codec.job_from_hash(record) if record else await broker.get_job(job_id)
    while not job.is_terminal:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(f"job {job_id} still {job.status} after {timeout} s")
        events = await read_events(broker, cursor, block=min(remaining, 5.0))
        if events:
            cursor = events[-1].event_id
        if any(e.job_id == job_id and _is_final(e) for e in events):
            job = await broker.get_job(job_id)
        await asyncio.sleep(0)
    return job
