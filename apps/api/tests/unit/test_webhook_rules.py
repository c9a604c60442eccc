"""Which events become webhooks, their body, the backoff, the stored record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from jobq.models import Event
from jobq_api.metrics import Metrics
from jobq_api.outbox import Delivery
from jobq_api.webhooks import backoff, wants_webhook, webhook_body


def event(kind: str, seconds: float = 0, **data: Any) -> Event:
    return Event(
        event_id="1-0",
        type=kind,
        timestamp=datetime.fromtimestamp(1700000000 + seconds, tz=UTC),
        job_id="j1",
        data=data,
    )


def test_terminal_events_are_delivered_and_progress_only_when_asked() -> None:
    assert wants_webhook(event("job_completed"), progress=False)
    assert wants_webhook(event("job_cancelled"), progress=False)
    assert wants_webhook(event("job_failed", will_retry=False), progress=False)
    assert not wants_webhook(event("job_failed", will_retry=True), progress=False)
    assert wants_webhook(event("workflow_completed"), progress=False)
    assert wants_webhook(event("workflow_failed"), progress=False)
    assert not wants_webhook(event("job_progress", progress=5), progress=False)
    assert wants_webhook(event("job_progress", progress=5), progress=True)
    assert not wants_webhook(event("job_submitted"), progress=True)


def test_the_body_is_the_event_with_a_status() -> None:
    body = json.loads(webhook_body(event("job_completed", result={"ok": True})))
    assert body["type"] == "job_completed"
    assert body["status"] == "completed"
    assert body["result"] == {"ok": True}
    progress = json.loads(webhook_body(event("job_progress", progress=5, status="running")))
    assert progress["status"] == "running"


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert backoff(0, 0.5, 10) == 0.5


def test_a_delivery_record_round_trips() -> None:
    delivery = Delivery("1-0", "http://x/h", "j1", "1-0", "job_completed", "{}", attempts=2)
    assert Delivery.from_json(delivery.to_json()) == delivery


def test_latencies_come_from_the_event_stream() -> None:
    metrics = Metrics(tracked=2)
    metrics.observe(event("job_submitted", 0, status="pending"))
    metrics.observe(event("job_assigned", 1.5))
    metrics.observe(event("job_failed", 2, will_retry=True))
    metrics.observe(event("job_completed", 4))
    metrics.observe(event("job_assigned", 5))  # no start known: not observed
    text = metrics.render().decode()
    assert "jobq_claim_latency_seconds_count 1.0" in text
    assert "jobq_claim_latency_seconds_sum 1.5" in text
    assert 'jobq_end_to_end_latency_seconds_sum{outcome="completed"} 4.0' in text
    at = datetime.fromtimestamp(9, tz=UTC)
    for n in range(5):  # bounded memory: the oldest are forgotten
        metrics.observe(Event(event_id=f"{n}-0", type="job_submitted", timestamp=at, job_id=f"{n}"))
    assert len(metrics._submitted) == 2
    metrics.observe(Event(event_id="9-0", type="worker_connected", timestamp=at, worker_id="w"))
