"""Prometheus metrics (``GET /metrics``), in a registry of the app's own.

Gauges of the fleet's state (jobs by state, queue depth per pool and per requirement
shape, workers, webhooks waiting) are read from Redis at scrape time. Latencies are
measured from the event stream that this instance's hub reads: every instance sees every
event, so aggregate them across instances with ``max`` or ``avg``, not ``sum``. Counters
of webhook deliveries and WebSocket traffic are this instance's own.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from jobq.models import Event

if TYPE_CHECKING:
    from jobq.broker import Broker
    from jobq_api.outbox import Outbox

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Jobs whose start time is remembered for the latency histograms (oldest forgotten first).
TRACKED = 100_000
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    900,
    3600,
)
#: Events after which a job waits to be claimed (with the status it has then).
_READY_EVENTS = frozenset({"job_submitted", "job_ready", "job_released", "job_retried"})
_END_EVENTS = {"job_completed": "completed", "job_cancelled": "cancelled", "job_failed": "failed"}


class _Clock:
    """job id -> time (seconds) of its last event of one kind, bounded."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._times: OrderedDict[str, float] = OrderedDict()

    def mark(self, job_id: str, at: float) -> None:
        self._times[job_id] = at
        self._times.move_to_end(job_id)
        if len(self._times) > self._size:
            self._times.popitem(last=False)

    def pop(self, job_id: str) -> float | None:
        return self._times.pop(job_id, None)

    def __len__(self) -> int:
        return len(self._times)


class Metrics:
    """Every metric the API exports."""

    def __init__(self, *, tracked: int = TRACKED) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Gauge("jobq_jobs", "Live jobs by state", ["state"], registry=r)
        self.queue_depth = Gauge(
            "jobq_queue_depth",
            "Pending jobs per preferred pool ('any': none)",
            ["pool"],
            registry=r,
        )
        self.queue_depth_shape = Gauge(
            "jobq_queue_depth_by_shape",
            "Pending jobs per requirement shape",
            ["shape", "pool", "runnable"],
            registry=r,
        )
        self.delayed = Gauge(
            "jobq_delayed_jobs", "Jobs scheduled for later or backing off", registry=r
        )
        self.workers = Gauge("jobq_workers", "Registered workers by status", ["status"], registry=r)
        self.claim_latency = Histogram(
            "jobq_claim_latency_seconds",
            "From a job becoming pending to its claim by a worker",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end_latency = Histogram(
            "jobq_end_to_end_latency_seconds",
            "From submission to the job's end, by outcome",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "jobq_webhook_deliveries",
            "Webhook deliveries settled by this instance: delivered, or failed for good",
            ["outcome"],
            registry=r,
        )
        self.webhook_failures = Counter(
            "jobq_webhook_failed_attempts", "Webhook attempts that did not get a 2xx", registry=r
        )
        self.webhook_pending = Gauge(
            "jobq_webhook_pending", "Webhook deliveries waiting or in flight", registry=r
        )
        self.ws_clients = Gauge("jobq_websocket_clients", "Connected WebSocket clients", registry=r)
        self.ws_messages = Counter(
            "jobq_websocket_events_sent", "Events sent to WebSocket clients", registry=r
        )
        self._ready = _Clock(tracked)
        self._submitted = _Clock(tracked)

    def observe(self, event: Event) -> None:
        """Update the latency histograms from one event (an :class:`EventHub` listener)."""
        job_id = event.job_id
        if job_id is None:
            return
        at = event.timestamp.timestamp()
        kind = event.type
        if kind in _READY_EVENTS:
            if kind == "job_submitted":
                self._submitted.mark(job_id, at)
            if event.data.get("status", "pending") == "pending":
                self._ready.mark(job_id, at)
        elif kind == "job_assigned":
            ready = self._ready.pop(job_id)
            if ready is not None:
                self.claim_latency.observe(max(0.0, at - ready))
        elif kind in _END_EVENTS:
            if kind == "job_failed" and event.data.get("will_retry", False):
                return
            self._ready.pop(job_id)
            submitted = self._submitted.pop(job_id)
            if submitted is not None:
                self.end_to_end_latency.labels(outcome=_END_EVENTS[kind]).observe(
                    max(0.0, at - submitted)
                )

    async def refresh(self, broker: Broker, outbox: Outbox | None) -> None:
        """Read the state gauges from Redis."""
        stats = await broker.queue_stats()
        workers = await broker.list_workers()
        for gauge in (self.jobs, self.queue_depth, self.queue_depth_shape, self.workers):
            gauge.clear()
        for state, count in stats.by_status.items():
            self.jobs.labels(state=state).set(count)
        for pool, depth in stats.pools.items():
            self.queue_depth.labels(pool=pool).set(depth)
        for shape in stats.shapes:
            self.queue_depth_shape.labels(
                shape=shape.shape_id,
                pool=shape.requirements.pool_preference or "any",
                runnable="true" if shape.runnable_by else "false",
            ).set(shape.pending)
        self.delayed.set(stats.delayed)
        for status in ("online", "offline"):
            self.workers.labels(status=status).set(sum(w.status == status for w in workers))
        if outbox is not None:
            self.webhook_pending.set(await outbox.pending())

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
