"""Webhook delivery: events -> durable outbox -> signed POSTs with retries.

Each API instance runs a :class:`WebhookDispatcher` (unless ``JOBQ_API_WEBHOOKS=false``):

- intake: reads the core's event stream through a consumer group (each event goes to one
  instance), turns terminal job and workflow events whose job or workflow names a
  ``webhook_url`` into deliveries and enqueues them (see :mod:`jobq_api.outbox`); events
  read by an instance that died are taken over after ``JOBQ_API_WEBHOOK_RECLAIM_SECONDS``;
- delivery: claims due deliveries (one instance per delivery), POSTs the body with
  ``X-Jobq-Timestamp`` and ``X-Jobq-Signature`` (:mod:`jobq_api.signing`); a 2xx answer
  delivers it, anything else is retried with exponential backoff up to
  ``JOBQ_API_WEBHOOK_ATTEMPTS`` attempts. Every attempt is logged per job or workflow.

On shutdown, attempts in flight are cancelled and handed back (due at once, attempt not
counted), so another instance, or this one after a restart, delivers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.exceptions import RedisError, ResponseError

from jobq import codec
from jobq.broker import Broker
from jobq.errors import JobNotFound, WorkflowNotFound
from jobq.models import Event
from jobq_api.metrics import Metrics
from jobq_api.outbox import GROUP, Claimed, Delivery, Outbox
from jobq_api.settings import ApiSettings
from jobq_api.signing import signed_headers
from jobq_api.tasks import cancel_and_wait
from jobq_api.wire import dumps, event_message

log = logging.getLogger("jobq_api.webhooks")

#: Job events that end a job (``job_failed`` only when it will not be retried).
JOB_EVENTS = frozenset({"job_completed", "job_failed", "job_cancelled"})
WORKFLOW_EVENTS = frozenset({"workflow_completed", "workflow_failed"})
STATUS_OF = {
    "job_completed": "completed",
    "job_failed": "failed",
    "job_cancelled": "cancelled",
    "workflow_completed": "completed",
    "workflow_failed": "failed",
}
#: Seconds between two looks at the outbox when nothing woke the delivery loop.
POLL = 0.5
#: Consumers idle (and with nothing pending) for this long are removed from the group.
STALE_CONSUMER_MS = 3600_000


def backoff(attempts: int, first: float, cap: float) -> float:
    """Seconds to wait after ``attempts`` failed attempts: ``first * 2**(attempts - 1)``,
    at most ``cap``."""
    return min(cap, first * 2.0 ** max(0, attempts - 1))


def wants_webhook(event: Event, *, progress: bool) -> bool:
    """True for the events that are delivered: terminal ones (and progress if asked)."""
    if event.type in WORKFLOW_EVENTS:
        return True
    if event.type == "job_failed":
        return not event.data.get("will_retry", False)
    if event.type == "job_progress":
        return progress
    return event.type in JOB_EVENTS


def webhook_body(event: Event) -> str:
    """The JSON body of a delivery: the event as on the WebSocket, with a ``status``."""
    message = event_message(event)
    status = STATUS_OF.get(event.type)
    if status is not None:
        message.setdefault("status", status)
    return dumps(message)


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def consumer_name() -> str:
    """A name unique to this process in the consumer group."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WebhookDispatcher:
    """Intake and delivery of webhooks for one API instance."""

    def __init__(
        self,
        broker: Broker,
        outbox: Outbox,
        settings: ApiSettings,
        metrics: Metrics,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.metrics = metrics
        self.outbox = outbox
        self.consumer = consumer_name()
        self._http = http or httpx.AsyncClient(
            timeout=settings.api_webhook_timeout, follow_redirects=False
        )
        self._own_http = http is None
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.api_webhook_concurrency)
        self._group_ready = False
        self._stopping = False
        self._loops: list[asyncio.Task[None]] = []
        self._attempts: set[asyncio.Task[None]] = set()

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Join the consumer group (so no event after this call is missed, unless Redis is
        down: then as soon as it is back) and start intake, takeover and delivery loops."""
        try:
            await self.ensure_group()
            self._group_ready = True
        except RedisError as exc:
            log.warning("webhooks: cannot reach Redis yet (%s)", exc)
        self._loops = [
            asyncio.create_task(self._forever(self._intake_once), name="jobq-webhook-intake"),
            asyncio.create_task(self._forever(self._reclaim_once), name="jobq-webhook-reclaim"),
            asyncio.create_task(self._forever(self._deliver_once), name="jobq-webhook-deliver"),
        ]

    async def stop(self) -> None:
        """Stop the loops; hand attempts in flight back to the outbox."""
        loops, self._loops = self._loops, []
        self._stopping = True
        await cancel_and_wait([*loops, *self._attempts])
        if self._own_http:
            await self._http.aclose()

    async def _forever(self, step: Callable[[], Awaitable[None]]) -> None:
        delay = 0.1
        while not self._stopping:
            try:
                await step()
                delay = 0.1
            except (RedisError, OSError) as exc:
                log.warning("webhooks: %s failed (%s); retrying", step.__name__, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # ---------------------------------------------------------------- intake
    async def ensure_group(self) -> None:
        """Create the consumer group (from the newest event) unless it exists."""
        try:
            await self.broker.redis.xgroup_create(
                self.broker.keys.events, GROUP, id="$", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _intake_once(self) -> None:
        if not self._group_ready:
            await self.ensure_group()
            self._group_ready = True
        try:
            reply: Any = await self.broker.redis.xreadgroup(
                GROUP, self.consumer, {self.broker.keys.events: ">"}, count=200, block=1000
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._group_ready = False  # the stream was deleted: create the group again
            return
        if reply:
            _, entries = reply[0]
            await self.take(entries)

    async def _reclaim_once(self) -> None:
        await asyncio.sleep(self.settings.api_webhook_reclaim_seconds / 2)
        if not self._group_ready:
            return
        idle_ms = round(self.settings.api_webhook_reclaim_seconds * 1000)
        start = "0-0"
        while True:
            reply: Any = await self.broker.redis.xautoclaim(
                self.broker.keys.events, GROUP, self.consumer, idle_ms, start_id=start, count=200
            )
            start, entries = reply[0], reply[1]
            deleted = reply[2] if len(reply) > 2 else []
            if entries or deleted:
                await self.take(entries, extra_acks=[str(d) for d in deleted])
            if start == "0-0":
                break
        await self._forget_stale_consumers()

    async def _forget_stale_consumers(self) -> None:
        consumers: Any = await self.broker.redis.xinfo_consumers(self.broker.keys.events, GROUP)
        for consumer in consumers:
            if (
                consumer["name"] != self.consumer
                and int(consumer["pending"]) == 0
                and int(consumer["idle"]) > STALE_CONSUMER_MS
            ):
                await self.broker.redis.xgroup_delconsumer(
                    self.broker.keys.events, GROUP, consumer["name"]
                )

    async def take(self, entries: list[Any], *, extra_acks: list[str] | None = None) -> None:
        """Turn stream entries into deliveries; acknowledge them all with the enqueue."""
        deliveries: list[Delivery] = []
        acks = list(extra_acks or [])
        for entry_id, fields in entries:
            acks.append(str(entry_id))
            if not fields:
                continue
            event = codec.event_from_entry(str(entry_id), fields)
            if not wants_webhook(event, progress=self.settings.api_webhook_progress):
                continue
            delivery = await self._delivery_for(event)
            if delivery is not None:
                deliveries.append(delivery)
        if acks:
            await self.outbox.enqueue(deliveries, acks)
        if deliveries:
            self._wake.set()

    async def _delivery_for(self, event: Event) -> Delivery | None:
        url: str | None = None
        subject: str | None = None
        try:
            if event.type in WORKFLOW_EVENTS and event.workflow_id:
                subject = event.workflow_id
                url = (await self.broker.get_workflow(subject)).workflow.webhook_url
            elif event.job_id:
                subject = event.job_id
                url = (await self.broker.get_job(subject)).webhook_url
        except (JobNotFound, WorkflowNotFound):
            return None  # purged since: nobody to tell
        if not url or subject is None:
            return None
        return Delivery(
            id=event.event_id,
            url=url,
            subject_id=subject,
            event_id=event.event_id,
            event_type=event.type,
            body=webhook_body(event),
        )

    # ---------------------------------------------------------------- delivery
    async def _deliver_once(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), POLL)
        self._wake.clear()
        free = self.settings.api_webhook_concurrency - len(self._attempts)
        if free <= 0:
            return
        lease_ms = round(self.settings.webhook_lease_seconds * 1000)
        for claimed in await self.outbox.claim(lease_ms, free):
            task = asyncio.create_task(self._attempt(claimed), name="jobq-webhook-attempt")
            self._attempts.add(task)
            task.add_done_callback(self._attempt_done)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._attempts.discard(task)
        self._wake.set()  # a free slot: look for more due deliveries
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook attempt crashed", exc_info=task.exception())

    async def _attempt(self, claimed: Claimed) -> None:
        delivery = claimed.delivery
        try:
            status, error = await self._post(delivery)
        except asyncio.CancelledError:
            with contextlib.suppress(RedisError, OSError):
                await self.outbox.finish(claimed, done=False, delay_ms=0)
            raise
        await self._settle(claimed, status, error)

    async def _post(self, delivery: Delivery) -> tuple[int | None, str | None]:
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "jobq-webhooks",
            "X-Jobq-Event": delivery.event_type,
            "X-Jobq-Delivery": delivery.id,
            "X-Jobq-Attempt": str(delivery.attempts + 1),
            **signed_headers(self.settings.webhook_secret, body),
        }
        try:
            response = await asyncio.wait_for(
                self._http.post(delivery.url, content=body, headers=headers),
                self.settings.api_webhook_timeout,
            )
        except TimeoutError:
            return None, f"timed out after {self.settings.api_webhook_timeout} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"

    async def _settle(self, claimed: Claimed, status: int | None, error: str | None) -> None:
        delivery = claimed.delivery
        attempt = delivery.attempts + 1
        now_ms = time.time() * 1000
        entry: dict[str, Any] = {
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "event_type": delivery.event_type,
            "url": delivery.url,
            "attempt": attempt,
            "status_code": status,
            "error": error,
            "at": _iso(now_ms),
        }
        if error is None:
            entry["outcome"] = "delivered"
            owned = await self.outbox.finish(claimed, done=True, log_entry=entry)
            self.metrics.webhook_deliveries.labels(outcome="delivered").inc()
        elif attempt >= self.settings.api_webhook_attempts:
            entry["outcome"] = "failed"
            owned = await self.outbox.finish(claimed, done=True, log_entry=entry)
            self.metrics.webhook_deliveries.labels(outcome="failed").inc()
            self.metrics.webhook_failures.inc()
            log.warning(
                "webhook %s to %s given up after %d attempts", delivery.id, delivery.url, attempt
            )
        else:
            delay = backoff(
                attempt, self.settings.api_webhook_backoff, self.settings.api_webhook_backoff_max
            ) * random.uniform(1.0, 1.1)
            entry["outcome"] = "retrying"
            entry["next_attempt_at"] = _iso(now_ms + delay * 1000)
            delivery.attempts = attempt
            owned = await self.outbox.finish(
                claimed, done=False, delay_ms=round(delay * 1000), record=delivery, log_entry=entry
            )
            self.metrics.webhook_failures.inc()
        if not owned:
            log.warning("webhook %s: lease lost during the attempt", delivery.id)
