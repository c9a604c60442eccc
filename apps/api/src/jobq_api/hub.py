"""Fan-out of the core's event stream to WebSocket clients.

One :class:`EventHub` per API process reads the stream (``Broker.read_events``) and
offers every event to every :class:`Subscriber`; each subscriber keeps a bounded
:class:`Outbox` that its own sender task drains, so a slow client never stalls the
hub or the other clients: when its outbox is full it is closed with a reason.

Resuming (``since``): a subscription given an event id first replays the stream from
that id up to the hub's position at the time of the request, while the hub buffers the
live events that match it; then the buffer is flushed and the subscription goes live.
Every matching event after ``since`` is sent once, in stream order, and an event that an
existing subscription of the same client already delivered is not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from redis.exceptions import RedisError

from jobq.broker import Broker
from jobq.models import Event
from jobq_api.tasks import cancel_and_wait
from jobq_api.wire import dumps, event_message, parse_event_id

log = logging.getLogger("jobq_api.hub")

Position = tuple[int, int]
Kind = Literal["job", "workflow", "all"]

#: Close codes: the server is going away / the client fell too far behind (4000 + 429).
CLOSE_GOING_AWAY = 1001
CLOSE_SLOW_CONSUMER = 4429
#: Events read per stream call (hub and replays); the hub lets the clients' senders run
#: between two reads, so a client's buffer must hold a few reads' worth of events.
READ_COUNT = 100


class Outbox:
    """A bounded FIFO of text frames for one client, drained by the client's sender."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: deque[tuple[str, str | None]] = deque()
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, text: str, event_id: str | None = None) -> bool:
        """Queue a frame; False (nothing queued) when the outbox is full or closed."""
        if self.closed or len(self._items) >= self.limit:
            return False
        self._items.append((text, event_id))
        self._ready.set()
        if len(self._items) >= self.limit // 2:
            self._room.clear()
        return True

    async def put(self, text: str, event_id: str | None = None) -> bool:
        """Queue a frame once the outbox is at most half full (replays use this, so they
        leave room for live events)."""
        while len(self._items) >= self.limit // 2 and not self.closed:
            self._room.clear()
            await self._room.wait()
        return self.put_nowait(text, event_id)

    def close(self) -> None:
        """Refuse further frames and wake a replay waiting for room."""
        self.closed = True
        self._room.set()

    async def get(self) -> tuple[str, str | None]:
        """The next frame and its event id (None for control messages)."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if len(self._items) < self.limit // 2:
            self._room.set()
        return item


@dataclass
class Subscription:
    """What a client asked for: one job, one workflow, or everything."""

    kind: Kind
    target: str | None = None
    #: The subscription delivers every matching event after this position.
    covers_from: Position = (0, 0)

    @property
    def key(self) -> tuple[Kind, str | None]:
        """Identifies the subscription within one client."""
        return (self.kind, self.target)

    def matches(self, event: Event) -> bool:
        """True if the event is about what this subscription follows."""
        if self.kind == "all":
            return True
        if self.kind == "job":
            return event.job_id == self.target
        return event.workflow_id == self.target


@dataclass
class _CatchUp:
    subscription: Subscription
    buffer: list[tuple[Position, Event, str]] = field(default_factory=list)


class Subscriber:
    """One WebSocket client's subscriptions and outbox."""

    def __init__(self, limit: int) -> None:
        self.outbox = Outbox(limit)
        self.live: dict[tuple[Kind, str | None], Subscription] = {}
        self._catching_up: list[_CatchUp] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()
        self.last_sent: str | None = None

    # ---------------------------------------------------------------- hub side
    def _live_match(self, event: Event, position: Position) -> bool:
        return any(position > sub.covers_from and sub.matches(event) for sub in self.live.values())

    def offer(self, event: Event, position: Position, text: str) -> None:
        """Called by the hub for every event, in stream order."""
        if self.close_code is not None:
            return
        if self._live_match(event, position):
            if not self.outbox.put_nowait(text, event.event_id):
                self.overflow()
            return
        for pending in self._catching_up:
            if pending.subscription.matches(event):
                pending.buffer.append((position, event, text))
                if len(pending.buffer) > self.outbox.limit:
                    self.overflow()
                return

    def overflow(self) -> None:
        """Too many events waiting: close the client, telling it where to resume."""
        resume = f"; resume with since={self.last_sent}" if self.last_sent else ""
        self.close(
            CLOSE_SLOW_CONSUMER, f"slow consumer: over {self.outbox.limit} events queued{resume}"
        )

    def close(self, code: int, reason: str) -> None:
        """Ask the connection to close with ``code`` and ``reason`` (at most 123 bytes)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason.encode()[:123].decode(errors="ignore")
            self.outbox.close()
            self.closed.set()

    # ---------------------------------------------------------------- client side
    def unsubscribe(self, key: tuple[Kind, str | None] | None) -> int:
        """Drop one subscription (``None``: all of them); how many were dropped."""
        if key is None:
            count = len(self.live)
            self.live.clear()
            return count
        return 1 if self.live.pop(key, None) is not None else 0

    async def subscribe(self, hub: EventHub, subscription: Subscription, since: str | None) -> None:
        """Start a subscription, first replaying every matching event after ``since``."""
        self.live.pop(subscription.key, None)
        if since is None:
            subscription.covers_from = hub.position
            self.live[subscription.key] = subscription
            return
        start = parse_event_id(since)
        horizon = hub.position
        pending = _CatchUp(subscription)
        self._catching_up.append(pending)
        try:
            await self._replay(hub.broker, subscription, since, start, horizon)
        finally:
            self._catching_up.remove(pending)
        subscription.covers_from = start
        for position, event, text in pending.buffer:
            if (
                position > start
                and not self._live_match(event, position)
                and not self.outbox.put_nowait(text, event.event_id)
            ):
                self.overflow()
                return
        self.live[subscription.key] = subscription

    async def _replay(
        self,
        broker: Broker,
        subscription: Subscription,
        since: str,
        start: Position,
        horizon: Position,
    ) -> None:
        cursor = since if since != "0" else "0-0"
        if start >= horizon:
            return
        while self.close_code is None:
            events = await broker.read_events(cursor, count=READ_COUNT)
            for event in events:
                position = parse_event_id(event.event_id)
                if position > horizon:
                    return
                cursor = event.event_id
                if subscription.matches(event) and not self._live_match(event, position):
                    await self.outbox.put(dumps(event_message(event)), event.event_id)
            if len(events) < READ_COUNT:
                return


Listener = Callable[[Event], None]


class EventHub:
    """Reads the core's event stream once per process and fans it out."""

    def __init__(self, broker: Broker, *, block: float = 1.0) -> None:
        self.broker = broker
        self.subscribers: set[Subscriber] = set()
        #: Open WebSocket connections (a connection counts until its close frame is sent).
        self.connections = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.listeners: list[Listener] = []
        self.cursor = "0-0"
        self.position: Position = (0, 0)
        self._block = block
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.started = asyncio.Event()

    async def start(self) -> None:
        """Start reading from the newest event on (the hub serves live events; replays
        read the stream themselves)."""
        self._task = asyncio.create_task(self._run(), name="jobq-api-hub")

    async def stop(self) -> None:
        """Stop reading."""
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            await cancel_and_wait([task])

    def close_all(self, code: int, reason: str) -> None:
        """Close every client (e.g. on shutdown), telling each where to resume."""
        for subscriber in list(self.subscribers):
            resume = (
                f"; reconnect with since={subscriber.last_sent}" if subscriber.last_sent else ""
            )
            subscriber.close(code, reason + resume)

    def connection_opened(self) -> None:
        """Count a WebSocket connection."""
        self.connections += 1
        self._idle.clear()

    def connection_closed(self) -> None:
        """A counted connection is closed."""
        self.connections -= 1
        if not self.connections:
            self._idle.set()

    async def wait_disconnected(self, timeout: float) -> bool:
        """Wait until every connection is closed (at most ``timeout`` seconds)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return not self.connections

    def _advance(self, event_id: str) -> None:
        self.cursor = event_id
        self.position = parse_event_id(event_id)

    async def _run(self) -> None:
        delay = 0.1
        while not self.started.is_set() and not self._stopping:
            try:
                self._advance(await self.broker.last_event_id())
                self.started.set()
            except RedisError as exc:
                log.warning("event hub: cannot reach Redis (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        while not self._stopping:
            try:
                events = await self.broker.read_events(
                    self.cursor, count=READ_COUNT, block=self._block
                )
            except RedisError as exc:
                log.warning("event hub: reading the stream failed (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            for event in events:
                self.publish(event)
            await asyncio.sleep(0)

    def publish(self, event: Event) -> None:
        """Offer one event (the next in stream order) to every subscriber and listener."""
        self._advance(event.event_id)
        position = self.position
        text = dumps(event_message(event))
        for subscriber in list(self.subscribers):
            subscriber.offer(event, position, text)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a metrics bug must not stop the feed
                log.exception("event listener failed")
