"""Resuming a subscription: replay up to the hub's position, buffer what the hub sees
meanwhile, then go live; nothing lost, nothing repeated. Driven by an in-memory stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from jobq.models import Event
from jobq_api.hub import CLOSE_SLOW_CONSUMER, EventHub, Subscriber, Subscription
from jobq_api.tasks import cancel_and_wait
from jobq_api.wire import dumps, event_message, parse_event_id


def event(n: int, job_id: str = "j1") -> Event:
    return Event(
        event_id=f"{n}-0",
        type="job_progress",
        timestamp=datetime.fromtimestamp(n, tz=UTC),
        job_id=job_id,
        data={"progress": n},
    )


class Stream:
    """An in-memory event stream with a hub that has processed up to ``hub_at``; while a
    replay reads it, ``during_read`` events are appended and offered live."""

    def __init__(self, count: int, hub_at: int) -> None:
        self.events = [event(n) for n in range(1, count + 1)]
        self.position = (hub_at, 0)
        self.broker = self
        self.during_read: list[Event] = []
        self.subscriber: Subscriber | None = None

    async def read_events(self, since: str, *, count: int = 500) -> list[Event]:
        after = parse_event_id(since)
        found = [e for e in self.events if parse_event_id(e.event_id) > after][:count]
        for live in self.during_read:  # the hub moves on while the replay reads
            self.events.append(live)
            self.position = parse_event_id(live.event_id)
            assert self.subscriber is not None
            self.subscriber.offer(live, self.position, dumps(event_message(live)))
        self.during_read = []
        return found


def sent(subscriber: Subscriber) -> list[int]:
    items = list(subscriber.outbox._items)
    return [json.loads(text)["progress"] for text, _ in items]


async def test_replay_then_buffered_live_events_then_live() -> None:
    stream = Stream(count=5, hub_at=5)
    subscriber = Subscriber(limit=100)
    stream.subscriber = subscriber
    stream.during_read = [event(6), event(7)]
    await subscriber.subscribe(stream, Subscription("job", "j1"), since="2-0")  # type: ignore[arg-type]
    assert sent(subscriber) == [3, 4, 5, 6, 7]
    subscriber.offer(event(8), (8, 0), dumps(event_message(event(8))))
    assert sent(subscriber) == [3, 4, 5, 6, 7, 8]


async def test_a_since_ahead_of_the_hub_skips_the_replay() -> None:
    stream = Stream(count=3, hub_at=3)
    subscriber = Subscriber(limit=100)
    stream.subscriber = subscriber
    stream.during_read = [event(4), event(5)]
    await subscriber.subscribe(stream, Subscription("all"), since="4-0")  # type: ignore[arg-type]
    subscriber.offer(event(5), (5, 0), dumps(event_message(event(5))))
    assert sent(subscriber) == [5]


async def test_a_replay_of_many_pages_waits_for_the_client_to_drain() -> None:
    stream = Stream(count=350, hub_at=350)
    subscriber = Subscriber(limit=40)

    async def drain() -> list[int]:
        got = []
        while len(got) < 350:
            text, _ = await subscriber.outbox.get()
            got.append(json.loads(text)["progress"])
        return got

    reader = asyncio.create_task(drain())
    await subscriber.subscribe(stream, Subscription("all"), since="0")  # type: ignore[arg-type]
    assert await reader == list(range(1, 351))
    assert subscriber.close_code is None


async def test_too_many_live_events_during_a_replay_close_the_client() -> None:
    stream = Stream(count=2, hub_at=2)
    subscriber = Subscriber(limit=3)
    stream.subscriber = subscriber
    stream.during_read = [event(n) for n in range(3, 8)]
    await subscriber.subscribe(stream, Subscription("all"), since="0")  # type: ignore[arg-type]
    assert subscriber.close_code == CLOSE_SLOW_CONSUMER


async def test_a_flush_that_overflows_closes_the_client() -> None:
    stream = Stream(count=2, hub_at=2)
    subscriber = Subscriber(limit=4)
    stream.subscriber = subscriber
    stream.during_read = [event(n) for n in range(3, 6)]
    await subscriber.subscribe(stream, Subscription("all"), since="0")  # type: ignore[arg-type]
    assert subscriber.close_code == CLOSE_SLOW_CONSUMER
    assert ("all", None) not in subscriber.live


def test_a_failing_listener_does_not_stop_the_feed(caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub(broker=None)  # type: ignore[arg-type]
    seen: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("metrics bug")

    hub.listeners += [broken, lambda e: seen.append(e.event_id)]
    subscriber = Subscriber(limit=10)
    subscriber.live[("all", None)] = Subscription("all")
    hub.subscribers.add(subscriber)
    with caplog.at_level(logging.ERROR):
        hub.publish(event(1))
    assert seen == ["1-0"]
    assert len(subscriber.outbox) == 1
    assert hub.cursor == "1-0"
    assert "listener failed" in caplog.text
    hub.close_all(1001, "bye")
    assert subscriber.close_code == 1001


async def test_cancel_and_wait_insists_and_reports(caplog: pytest.LogCaptureFixture) -> None:
    async def stubborn() -> None:
        for _ in range(3):  # swallows cancellations, like a redis-py call can
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    async def broken() -> None:
        raise ValueError("boom")

    release = asyncio.Event()

    async def forever() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(stubborn()),
        asyncio.create_task(broken()),
    ]
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR):
        await cancel_and_wait(tasks, timeout=2, every=0.01)
    assert all(task.done() for task in tasks)
    assert "failed" in caplog.text
    endless = asyncio.create_task(forever())
    await asyncio.sleep(0)  # started: now it swallows every cancellation
    with caplog.at_level(logging.ERROR):
        await cancel_and_wait([endless], timeout=0.05, every=0.01)
    assert "still running" in caplog.text
    release.set()
    await endless
