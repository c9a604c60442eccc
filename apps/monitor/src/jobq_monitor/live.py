"""The monitor's WebSocket (``/ws``): the core's event stream, live, resumable.

Signed-in browsers only (the session cookie; a cross-site ``Origin`` is refused).
Client messages (JSON):

- ``{"type": "subscribe_all", "since": "<event id>"}``: stream every event after
  ``since`` (default: from now on). The server answers ``{"type": "subscribed",
  "since": <id>}``, then sends each event as the jobq API does (``type``,
  ``event_id``, ``timestamp``, subject ids, data). A client that reconnects with the
  last id it saw loses nothing and sees nothing twice.
- ``{"type": "unsubscribe"}`` -> ``{"type": "unsubscribed"}``; ``{"type": "ping"}`` ->
  ``{"type": "pong"}``.

Anything else is answered with ``{"type": "error", "error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from jobq.broker import Broker
from jobq.errors import ValidationFailed
from jobq_monitor.app import monitor_of
from jobq_monitor.auth import SESSION_COOKIE
from jobq_monitor.guards import same_origin
from jobq_monitor.wire import check_event_id

router = APIRouter()
log = logging.getLogger(__name__)

#: Close code for "not signed in / session ended" (4000 + the HTTP status).
CLOSE_UNAUTHORIZED = 4401
#: Close code asking the client to reconnect (the server hit a transient error).
CLOSE_RETRY = 1011
#: Seconds one blocking stream read waits before the session is checked again. Well
#: under redis-py's default socket timeout (5 s), which a 5 s block would race.
BLOCK_SECONDS = 2.0


class Connection:
    """One WebSocket client: sends are serialized; at most one event pump runs."""

    def __init__(self, websocket: WebSocket, broker: Broker, cookie: str) -> None:
        self.websocket = websocket
        self.broker = broker
        self.cookie = cookie
        self._send_lock = asyncio.Lock()
        self._pump: asyncio.Task[None] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message."""
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(message, separators=(",", ":")))

    async def error(self, message: str) -> None:
        """Tell the client its message was refused."""
        await self.send(
            {"type": "error", "error": {"code": "VALIDATION_ERROR", "message": message}}
        )

    async def handle(self, raw: str) -> None:
        """Act on one client message."""
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            await self.error("validation failed: messages must be JSON objects")
            return
        if not isinstance(message, dict):
            await self.error("validation failed: messages must be JSON objects")
            return
        kind = message.get("type")
        if kind == "subscribe_all":
            since = message.get("since")
            try:
                if since is not None and not isinstance(since, str):
                    raise ValidationFailed("validation failed: since must be a string event id")
                check_event_id(since)
            except ValidationFailed as exc:
                await self.error(exc.message)
                return
            await self.stop()
            cursor = since if since is not None else await self.broker.last_event_id()
            await self.send({"type": "subscribed", "since": cursor})
            self._pump = asyncio.create_task(self._stream(cursor), name="jobq-monitor-ws")
        elif kind == "unsubscribe":
            await self.stop()
            await self.send({"type": "unsubscribed"})
        elif kind == "ping":
            await self.send({"type": "pong"})
        else:
            await self.error(
                f"validation failed: unknown message type {kind!r} "
                "(use subscribe_all, unsubscribe or ping)"
            )

    async def _stream(self, cursor: str) -> None:
        try:
            await self._pump_events(cursor)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Redis went away or the socket broke: close, so the page reconnects and
            # rebuilds from state instead of silently missing events.
            log.warning("event stream to a monitor page failed", exc_info=True)
            with contextlib.suppress(Exception):
                await self.websocket.close(code=CLOSE_RETRY, reason="event stream interrupted")

    async def _pump_events(self, cursor: str) -> None:
        sessions = monitor_of(self.websocket).sessions
        while True:
            if sessions.verify(self.cookie) is None:
                await self.websocket.close(code=CLOSE_UNAUTHORIZED, reason="session ended")
                return
            for event in await self.broker.read_events(cursor, count=200, block=BLOCK_SECONDS):
                await self.send(event.to_message())
                cursor = event.event_id

    async def stop(self) -> None:
        """Stop streaming events (if streaming)."""
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump


@router.websocket("/ws", name="live")
async def live(websocket: WebSocket) -> None:
    """Stream events to a signed-in dashboard page."""
    cookie = websocket.cookies.get(SESSION_COOKIE, "")
    monitor = monitor_of(websocket)
    if monitor.sessions.verify(cookie) is None or not same_origin(websocket):
        await websocket.close(code=CLOSE_UNAUTHORIZED)  # before accept: an HTTP 403
        return
    await websocket.accept()
    connection = Connection(websocket, await monitor.broker(), cookie)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                await connection.error("validation failed: send JSON as text frames")
            else:
                await connection.handle(text)
    except WebSocketDisconnect:  # pragma: no cover - raised by send on some servers
        pass
    finally:
        await connection.stop()
