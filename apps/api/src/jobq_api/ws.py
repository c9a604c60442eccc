"""The WebSocket endpoint ``/ws``: live events, resumable with ``since``.

Authenticate with the ``x-api-key`` header or, from browsers, the ``api_key`` query
parameter; a client without a valid key is closed with code 4401.

Client messages (JSON objects):

- ``{"type": "subscribe_job", "job_id": "...", "since": "<event id>"?}``
- ``{"type": "subscribe_workflow", "workflow_id": "...", "since"?}``
- ``{"type": "subscribe_all", "since"?}``
- ``{"type": "unsubscribe", "job_id"? | "workflow_id"? | "all": true}`` (nothing named:
  every subscription)
- ``{"type": "ping"}`` -> ``{"type": "pong"}``

The server answers a subscription with ``{"type": "subscribed", ...}`` and then sends
every matching event (``type``, ``event_id``, ``timestamp``, subject ids, data): with
``since``, first every matching event after that id, so a client that reconnects with the
last ``event_id`` it saw loses nothing and sees nothing twice. Idle connections get
``{"type": "ping"}`` keepalives. A client that falls more than ``JOBQ_API_WS_BUFFER``
events behind is closed with code 4429 and a reason naming the id to resume from; on
shutdown clients are closed with code 1001 likewise. Invalid messages are answered with
``{"type": "error", "error": {"code": "VALIDATION_ERROR", "message": ...}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketState

from jobq.errors import ValidationFailed
from jobq_api.auth import API_KEY_HEADER, API_KEY_QUERY
from jobq_api.hub import Kind, Subscriber, Subscription
from jobq_api.tasks import cancel_and_wait
from jobq_api.wire import dumps, parse_event_id

if TYPE_CHECKING:
    from jobq_api.state import ApiState

log = logging.getLogger("jobq_api.ws")
router = APIRouter()

#: Close code for a missing or wrong API key (4000 + the HTTP status).
CLOSE_UNAUTHORIZED = 4401
#: Seconds to wait for the event hub before refusing a subscription.
HUB_WAIT = 10.0
SUBSCRIBE_TYPES: dict[str, Kind] = {
    "subscribe_job": "job",
    "subscribe_workflow": "workflow",
    "subscribe_all": "all",
}
TARGET_FIELD: dict[Kind, str] = {"job": "job_id", "workflow": "workflow_id"}


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(f"validation failed: {message}")


def _text(message: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = message.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 256:
        raise _invalid(f"{name} must be a string of 1-256 characters")
    return value


class Connection:
    """One client: reads its messages and keeps its subscriptions."""

    def __init__(self, websocket: WebSocket, state: ApiState) -> None:
        self.websocket = websocket
        self.state = state
        self.subscriber = Subscriber(state.settings.api_ws_buffer)

    def reply(self, message: dict[str, Any]) -> None:
        """Queue a control message (never refused for lack of room: it is tiny)."""
        if not self.subscriber.outbox.put_nowait(dumps(message)):
            self.subscriber.overflow()

    def error(self, message: str) -> None:
        """Tell the client its message was refused."""
        self.reply({"type": "error", "error": {"code": "VALIDATION_ERROR", "message": message}})

    async def handle(self, raw: str) -> None:
        """Act on one client message."""
        try:
            message = json.loads(raw)
        except ValueError:
            self.error("validation failed: messages must be JSON objects")
            return
        if not isinstance(message, dict):
            self.error("validation failed: messages must be JSON objects")
            return
        try:
            await self._dispatch(message)
        except ValidationFailed as exc:
            self.error(exc.message)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if isinstance(kind, str) and kind in SUBSCRIBE_TYPES:
            await self._subscribe(SUBSCRIBE_TYPES[kind], message)
        elif kind == "unsubscribe":
            self._unsubscribe(message)
        elif kind == "ping":
            self.reply({"type": "pong"})
        elif kind == "pong":
            return
        else:
            raise _invalid(
                f"unknown message type {kind!r} (use subscribe_job, subscribe_workflow, "
                "subscribe_all, unsubscribe or ping)"
            )

    async def _subscribe(self, kind: Kind, message: dict[str, Any]) -> None:
        target = None
        if kind in TARGET_FIELD:
            target = _text(message, TARGET_FIELD[kind], required=True)
        since = _text(message, "since", required=False)
        if since is not None:
            parse_event_id(since)
        hub = self.state.hub
        try:
            await asyncio.wait_for(hub.started.wait(), HUB_WAIT)
        except TimeoutError:
            self.reply(
                {
                    "type": "error",
                    "error": {"code": "UNAVAILABLE", "message": "Redis is unavailable"},
                }
            )
            return
        ack: dict[str, Any] = {"type": "subscribed", "subscription": kind}
        if target is not None:
            ack[TARGET_FIELD[kind]] = target
        ack["since"] = since if since is not None else hub.cursor
        self.reply(ack)
        await self.subscriber.subscribe(hub, Subscription(kind, target), since)

    def _unsubscribe(self, message: dict[str, Any]) -> None:
        key: tuple[Kind, str | None] | None = None
        for kind, name in TARGET_FIELD.items():
            if message.get(name) is not None:
                key = (kind, _text(message, name, required=True))
        if key is None and message.get("all") is True:
            key = ("all", None)
        removed = self.subscriber.unsubscribe(key)
        reply: dict[str, Any] = {"type": "unsubscribed", "removed": removed}
        if key is not None and key[1] is not None:
            reply[TARGET_FIELD[key[0]]] = key[1]
        self.reply(reply)

    # ---------------------------------------------------------------- tasks
    async def receive_loop(self) -> None:
        """Read client messages until the client goes away."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.error("validation failed: send JSON as text frames")
            else:
                await self.handle(text)

    async def send_loop(self) -> None:
        """Send queued frames, in order."""
        outbox = self.subscriber.outbox
        send = self.websocket.send  # the ASGI message directly: the hot path of fan-out
        while True:
            text, event_id = await outbox.get()
            await send({"type": "websocket.send", "text": text})
            if event_id is not None:
                self.subscriber.last_sent = event_id
                self.state.metrics.ws_messages.inc()

    async def ping_loop(self) -> None:
        """Keepalive: a ping message whenever the connection was idle for a while."""
        interval = self.state.settings.api_ws_ping_seconds
        while True:
            await asyncio.sleep(interval)
            if not len(self.subscriber.outbox):
                self.reply({"type": "ping"})


def _api_key(websocket: WebSocket) -> str | None:
    return websocket.headers.get(API_KEY_HEADER) or websocket.query_params.get(API_KEY_QUERY)


@router.websocket("/ws")
async def events_socket(websocket: WebSocket) -> None:
    """Live events (see the module documentation for the protocol)."""
    state: ApiState = websocket.app.state.jobq
    await websocket.accept()
    if not state.keys.accepts(_api_key(websocket)):
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="missing or invalid API key")
        return
    connection = Connection(websocket, state)
    subscriber = connection.subscriber
    state.hub.subscribers.add(subscriber)
    state.hub.connection_opened()
    state.metrics.ws_clients.inc()
    tasks = [
        asyncio.create_task(connection.receive_loop(), name="jobq-ws-receive"),
        asyncio.create_task(connection.send_loop(), name="jobq-ws-send"),
        asyncio.create_task(connection.ping_loop(), name="jobq-ws-ping"),
        asyncio.create_task(subscriber.closed.wait(), name="jobq-ws-closed"),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        state.hub.subscribers.discard(subscriber)
        await cancel_and_wait(tasks)
        if subscriber.close_code is not None and websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(code=subscriber.close_code, reason=subscriber.close_reason),
                    5.0,
                )
    finally:
        state.hub.subscribers.discard(subscriber)
        state.hub.connection_closed()
        state.metrics.ws_clients.dec()
