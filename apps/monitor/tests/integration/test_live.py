"""The monitor's WebSocket: live events, resume by event id, clean errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from jobq.broker import Broker
from jobq.models import WorkerCapabilities


def subscribe(ws: WebSocketTestSession, since: str | None = None) -> dict[str, Any]:
    ws.send_json({"type": "subscribe_all", "since": since})
    reply: dict[str, Any] = ws.receive_json()
    assert reply["type"] == "subscribed"
    return reply


async def test_live_events_from_now_on(broker: Broker, signed_in_client: TestClient) -> None:
    await broker.submit({"type": "simulation"})  # before: not sent
    with signed_in_client.websocket_connect("/ws") as ws:
        reply = subscribe(ws)
        assert reply["since"] == await broker.last_event_id()
        submitted = await broker.submit({"type": "simulation", "priority": 70})
        message = ws.receive_json()
        assert message["type"] == "job_submitted"
        assert message["job_id"] == submitted.job_id
        assert message["job_type"] == "simulation"
        assert message["priority"] == 70
        assert message["event_id"] == await broker.last_event_id()
        assert "timestamp" in message


async def test_a_client_that_reconnects_loses_nothing_and_sees_nothing_twice(
    broker: Broker, signed_in_client: TestClient
) -> None:
    worker = WorkerCapabilities(worker_id="w", capabilities=["simulation"])
    await broker.register_worker(worker)
    first = await broker.submit({"type": "simulation"})
    seen: list[dict[str, Any]] = []
    with signed_in_client.websocket_connect("/ws") as ws:
        subscribe(ws, "0-0")
        seen += [ws.receive_json(), ws.receive_json()]
    assert [m["type"] for m in seen] == ["worker_connected", "job_submitted"]
    # While the page is away, the job runs and a new one comes in.
    job = (await broker.claim(worker)).jobs[0]
    await broker.progress(job.id, 50, token=job.token)
    await broker.complete(job.id, {"ok": True}, token=job.token)
    second = await broker.submit({"type": "simulation"})
    with signed_in_client.websocket_connect("/ws") as ws:
        subscribe(ws, seen[-1]["event_id"])
        resumed = [ws.receive_json() for _ in range(4)]
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # nothing else was pending
    assert [(m["type"], m["job_id"]) for m in resumed] == [
        ("job_assigned", first.job_id),
        ("job_progress", first.job_id),
        ("job_completed", first.job_id),
        ("job_submitted", second.job_id),
    ]
    assert resumed[2]["result"] == {"ok": True}
    ids = [m["event_id"] for m in seen + resumed]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")))


async def test_unsubscribe_stops_the_stream(broker: Broker, signed_in_client: TestClient) -> None:
    with signed_in_client.websocket_connect("/ws") as ws:
        subscribe(ws)
        ws.send_json({"type": "unsubscribe"})
        assert ws.receive_json() == {"type": "unsubscribed"}
        await broker.submit({"type": "simulation"})
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
        reply = subscribe(ws)  # subscribing again resumes from now
        await broker.submit({"type": "simulation"})
        message = ws.receive_json()
        assert message["type"] == "job_submitted"
        assert message["event_id"] > reply["since"]


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ("not json", "messages must be JSON objects"),
        ("[1, 2]", "messages must be JSON objects"),
        ('{"type": "subscribe_job"}', "unknown message type 'subscribe_job'"),
        ('{"type": "subscribe_all", "since": "yesterday"}', "since must be an event id"),
        ('{"type": "subscribe_all", "since": 5}', "since must be a string event id"),
    ],
)
def test_bad_messages_are_answered_not_fatal(
    signed_in_client: TestClient, sent: str, message: str
) -> None:
    with signed_in_client.websocket_connect("/ws") as ws:
        ws.send_text(sent)
        reply = ws.receive_json()
        assert reply["type"] == "error"
        assert reply["error"]["code"] == "VALIDATION_ERROR"
        assert message in reply["error"]["message"]
        ws.send_bytes(b"\x00")
        assert "text frames" in ws.receive_json()["error"]["message"]
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


async def test_the_stream_ends_when_the_session_does(
    broker: Broker, monitor_app: FastAPI, signed_in_client: TestClient
) -> None:
    with signed_in_client.websocket_connect("/ws") as ws:
        subscribe(ws)
        monitor_app.state.monitor.sessions.max_age = -1  # every session has now expired
        await broker.submit({"type": "simulation"})  # wakes the stream reader
        assert ws.receive_json()["type"] == "job_submitted"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
