"""Fan-out logic: bounded outboxes, slow consumers, matching, resume bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobq.errors import ValidationFailed
from jobq.models import Event
from jobq_api.hub import CLOSE_SLOW_CONSUMER, Outbox, Subscriber, Subscription
from jobq_api.wire import event_message, parse_event_id


def event(n: int, job_id: str = "j1", workflow_id: str | None = None, kind: str = "x") -> Event:
    return Event(
        event_id=f"{1700000000000 + n}-0",
        type=kind,
        timestamp=datetime.fromtimestamp(1700000000 + n, tz=UTC),
        job_id=job_id,
        workflow_id=workflow_id,
    )


def test_event_ids_compare_in_stream_order_and_bad_ones_are_refused() -> None:
    assert parse_event_id("1700000000000-1") > parse_event_id("1700000000000-0")
    assert parse_event_id("1700000000001-0") > parse_event_id("1700000000000-9")
    assert parse_event_id("0") == parse_event_id("0-0") == (0, 0)
    for bad in ("", "abc", "1-", "-1", "1-2-3", "1.5-0"):
        with pytest.raises(ValidationFailed, match="since"):
            parse_event_id(bad)


def test_the_message_keeps_the_event_fields_over_the_data() -> None:
    submitted = Event(
        event_id="5-0",
        type="job_submitted",
        timestamp=datetime.fromtimestamp(5, tz=UTC),
        job_id="j1",
        data={"job_type": "simulation", "event_id": "spoof", "type": "x", "priority": 50},
    )
    message = event_message(submitted)
    assert message["type"] == "job_submitted"
    assert message["job_type"] == "simulation"
    assert message["event_id"] == "5-0"
    assert message["priority"] == 50
    assert "workflow_id" not in message


async def test_the_outbox_is_bounded_and_fifo() -> None:
    outbox = Outbox(4)
    assert all(outbox.put_nowait(str(i), f"{i}-0") for i in range(4))
    assert not outbox.put_nowait("overflow")
    assert [await outbox.get() for _ in range(3)] == [("0", "0-0"), ("1", "1-0"), ("2", "2-0")]
    assert await outbox.put("4")  # replays wait until the outbox is less than half full
    assert len(outbox) == 2


def test_subscriptions_match_their_subject() -> None:
    assert Subscription("all").matches(event(1))
    assert Subscription("job", "j1").matches(event(1))
    assert not Subscription("job", "j2").matches(event(1))
    assert Subscription("workflow", "w").matches(event(1, workflow_id="w"))
    assert not Subscription("workflow", "w").matches(event(1))


def test_a_subscriber_that_falls_behind_is_closed_with_a_resume_point() -> None:
    subscriber = Subscriber(limit=3)
    subscriber.live[("all", None)] = Subscription("all")
    subscriber.last_sent = "1700000000000-0"
    for n in range(1, 4):
        subscriber.offer(event(n), parse_event_id(event(n).event_id), "text")
    assert subscriber.close_code is None
    subscriber.offer(event(4), parse_event_id(event(4).event_id), "text")
    assert subscriber.close_code == CLOSE_SLOW_CONSUMER
    assert "since=1700000000000-0" in subscriber.close_reason
    assert subscriber.closed.is_set()
    subscriber.offer(event(5), parse_event_id(event(5).event_id), "text")  # ignored now
    assert len(subscriber.outbox) == 3


def test_only_events_after_a_subscription_started_are_delivered_live() -> None:
    subscriber = Subscriber(limit=10)
    subscriber.live[("job", "j1")] = Subscription("job", "j1", covers_from=(1700000000002, 0))
    for n in (1, 2, 3):
        subscriber.offer(event(n), parse_event_id(event(n).event_id), f"e{n}")
    subscriber.offer(event(4, job_id="other"), parse_event_id(event(4).event_id), "e4")
    assert len(subscriber.outbox) == 1
    assert subscriber.unsubscribe(("job", "j1")) == 1
    assert subscriber.unsubscribe(("job", "j1")) == 0
    assert subscriber.unsubscribe(None) == 0


def test_close_reasons_are_cut_to_the_websocket_limit() -> None:
    subscriber = Subscriber(limit=1)
    subscriber.close(1001, "é" * 100)
    assert len(subscriber.close_reason.encode()) <= 123
    subscriber.close(4429, "second")  # the first close wins
    assert subscriber.close_code == 1001
