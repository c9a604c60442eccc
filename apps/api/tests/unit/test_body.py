"""The body size limit as plain ASGI (no network)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message

from jobq_api.body import BodyLimit


class Recorder:
    """An ASGI app that records the body it read."""

    def __init__(self) -> None:
        self.body = b""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def call(
    limit: int, headers: list[tuple[bytes, bytes]], chunks: list[Message]
) -> tuple[int, bytes, Recorder]:
    app = Recorder()
    middleware = BodyLimit(app, limit)
    queue = list(chunks)
    sent: list[Message] = []

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await middleware(scope, receive, send)
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, body, app


def chunk(data: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    status, body, app = await call(10, [(b"content-length", b"11")], [chunk(b"x" * 11, False)])
    assert status == 413
    assert json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert app.body == b""


async def test_a_chunked_body_is_counted_and_replayed() -> None:
    status, _, app = await call(10, [], [chunk(b"12345", True), chunk(b"6789", False)])
    assert (status, app.body) == (204, b"123456789")
    status, _, app = await call(10, [], [chunk(b"123456", True), chunk(b"7890a", False)])
    assert status == 413


async def test_an_unparsable_length_or_an_early_disconnect_falls_back_to_counting() -> None:
    status, _, app = await call(10, [(b"content-length", b"abc")], [chunk(b"ok", False)])
    assert (status, app.body) == (204, b"ok")
    status, _, app = await call(10, [], [chunk(b"par", True)])  # then the client is gone
    assert (status, app.body) == (204, b"par")


async def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await BodyLimit(app, 1)({"type": "websocket"}, None, None)  # type: ignore[arg-type]
    assert seen == ["websocket"]
