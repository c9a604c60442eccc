"""WebSocket ``/ws``: subscriptions, resume with ``since``, auth, keepalive, slow clients,
shutdown, several instances."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import pytest

from jobq.broker import Broker
from jobq.models import WorkerCapabilities
from jobq_api.app import create_app
from jobq_api.settings import ApiSettings
from jobq_testing.api import LiveApi, ServerFactory, serve, ws_connect

WORKER = WorkerCapabilities(worker_id="w-1", capabilities=["simulation", "text-to-image"])


async def run_job(broker: Broker, job_id: str, result: dict[str, Any] | None = None) -> None:
    """Claim the job, report five progress steps, complete it."""
    claimed = (await broker.claim(WORKER)).jobs[0]
    assert claimed.id == job_id
    for pct in (20, 40, 60, 80, 99):
        await broker.progress(job_id, pct, token=claimed.token)
    await broker.complete(job_id, result or {"image_url": "out.png"}, token=claimed.token)


def of_job(events: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("job_id") == job_id]


async def test_job_events_arrive_in_order(api_server: LiveApi, broker: Broker) -> None:
    job_id = (await broker.submit({"type": "text-to-image", "prompt": "p"})).job_id
    async with ws_connect(api_server.ws_url) as ws:
        ack = await ws.subscribe("job", job_id)
        assert ack["job_id"] == job_id
        await run_job(broker, job_id, {"image_url": "result.png"})
        events = await ws.events(until=lambda e: e["type"] == "job_completed")
    assert [e["type"] for e in events] == ["job_assigned"] + ["job_progress"] * 5 + [
        "job_completed"
    ]
    assert [e["progress"] for e in events if e["type"] == "job_progress"] == [20, 40, 60, 80, 99]
    assert events[-1]["result"] == {"image_url": "result.png"}
    assert all(e["job_id"] == job_id for e in events)
    assert all(isinstance(e["event_id"], str) and e["timestamp"] for e in events)
    assert events[0]["worker_id"] == "w-1"


async def test_the_key_can_come_as_a_query_parameter(api_server: LiveApi, broker: Broker) -> None:
    async with ws_connect(api_server.ws_url, in_query=True) as ws:
        await ws.subscribe("all")
        job_id = (await broker.submit({"type": "simulation"})).job_id
        event = await ws.receive()
    assert (event["type"], event["job_id"], event["job_type"]) == (
        "job_submitted",
        job_id,
        "simulation",
    )


@pytest.mark.parametrize("key", [None, "wrong-key"])
async def test_a_client_without_a_valid_key_is_closed_with_4401(
    api_server: LiveApi, key: str | None
) -> None:
    async with ws_connect(api_server.ws_url, api_key=key) as ws:
        code, reason = await ws.closed_by_server()
    assert code == 4401
    assert "API key" in reason


async def test_resume_with_since_loses_nothing_and_repeats_nothing(
    api_server: LiveApi, broker: Broker
) -> None:
    async with ws_connect(api_server.ws_url) as ws:
        await ws.subscribe("all")
        first = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 3)]
        seen = await ws.events(3)
    assert [e["job_id"] for e in seen] == first
    last = seen[-1]["event_id"]
    # Disconnected: events happen meanwhile.
    missed = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 4)]
    await broker.cancel(missed[0])
    async with ws_connect(api_server.ws_url) as ws:
        ack = await ws.subscribe("all", since=last)
        assert ack["since"] == last
        later = (await broker.submit({"type": "simulation"})).job_id
        resumed = await ws.events(until=lambda e: e.get("job_id") == later)
    assert [(e["type"], e["job_id"]) for e in resumed] == [
        *[("job_submitted", job_id) for job_id in missed],
        ("job_cancelled", missed[0]),
        ("job_submitted", later),
    ]
    ids = [e["event_id"] for e in seen + resumed]
    assert len(ids) == len(set(ids))


async def test_resume_a_job_subscription_from_its_first_event(
    api_server: LiveApi, broker: Broker
) -> None:
    job_id = (await broker.submit({"type": "simulation"})).job_id
    other = (await broker.submit({"type": "simulation"})).job_id
    claimed = (await broker.claim(WORKER)).jobs[0]
    await broker.progress(job_id, 50, token=claimed.token)
    async with ws_connect(api_server.ws_url) as ws:
        await ws.subscribe("job", job_id, since="0")
        await broker.complete(job_id, {"ok": True}, token=claimed.token)
        await broker.cancel(other)
        events = await ws.events(until=lambda e: e["type"] == "job_completed")
    assert [e["type"] for e in events] == [
        "job_submitted",
        "job_assigned",
        "job_progress",
        "job_completed",
    ]


async def test_a_replay_does_not_repeat_what_another_subscription_sent(
    api_server: LiveApi, broker: Broker
) -> None:
    before = (await broker.submit({"type": "simulation"})).job_id
    start = (await broker.read_events())[0].event_id
    async with ws_connect(api_server.ws_url) as ws:
        await ws.subscribe("all")
        job_id = (await broker.submit({"type": "simulation"})).job_id
        live = await ws.receive()
        assert live["job_id"] == job_id
        await ws.subscribe("all", since="0")  # replaces the live one: replays everything
        replayed = await ws.events(2)
        assert [e["job_id"] for e in replayed] == [before, job_id]
        await ws.subscribe("job", before, since="0")  # covered by "all": nothing new
        await broker.cancel(before)
        after = await ws.receive()
    assert (after["type"], after["job_id"]) == ("job_cancelled", before)
    assert start


async def test_workflow_subscription_and_unsubscribe(api_server: LiveApi, broker: Broker) -> None:
    created = await broker.create_workflow(
        {"name": "wf", "steps": [{"type": "simulation"}, {"type": "simulation", "depends_on": 0}]}
    )
    async with ws_connect(api_server.ws_url) as ws:
        await ws.subscribe("workflow", created.workflow_id)
        await broker.submit({"type": "text-to-image", "prompt": "unrelated"})
        for _ in range(2):
            claimed = (await broker.claim(WORKER)).jobs[0]
            await broker.complete(claimed.id, {}, token=claimed.token)
        events = await ws.events(until=lambda e: e["type"] == "workflow_completed")
        assert {e.get("workflow_id") for e in events} == {created.workflow_id}
        assert [e["type"] for e in events if e["type"] == "job_completed"] == ["job_completed"] * 2
        await ws.send({"type": "unsubscribe", "workflow_id": created.workflow_id})
        assert await ws.receive() == {
            "type": "unsubscribed",
            "removed": 1,
            "workflow_id": created.workflow_id,
        }
        await ws.subscribe("job", "some-job")
        await ws.send({"type": "unsubscribe"})
        assert (await ws.receive())["removed"] == 1
        await broker.submit({"type": "simulation"})
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}  # nothing else came in between


@pytest.mark.parametrize(
    ("message", "needle"),
    [
        ("not json", "JSON"),
        ("[1]", "JSON objects"),
        (json.dumps({"type": "subscribe_everything"}), "unknown message type"),
        (json.dumps({"type": "subscribe_job"}), "job_id"),
        (json.dumps({"type": "subscribe_job", "job_id": 7}), "job_id"),
        (json.dumps({"type": "subscribe_all", "since": "yesterday"}), "since"),
        (json.dumps({"type": "unsubscribe", "job_id": ""}), "job_id"),
    ],
)
async def test_invalid_messages_get_an_error_and_the_connection_stays(
    api_server: LiveApi, message: str, needle: str
) -> None:
    async with ws_connect(api_server.ws_url) as ws:
        await ws.connection.send(message)
        error = await ws.receive()
        assert error["type"] == "error"
        assert error["error"]["code"] == "VALIDATION_ERROR"
        assert needle in error["error"]["message"]
        await ws.connection.send(b"binary")
        assert "text frames" in (await ws.receive())["error"]["message"]
        await ws.subscribe("all")


async def test_idle_connections_get_keepalive_pings(make_api_server: ServerFactory) -> None:
    server = await make_api_server(api_ws_ping_seconds=0.1)
    async with ws_connect(server.ws_url) as ws:
        raw = await asyncio.wait_for(ws.connection.recv(), 10)
        assert json.loads(raw) == {"type": "ping"}
        await ws.send({"type": "pong"})
        await ws.subscribe("all")


async def test_a_slow_client_is_closed_and_does_not_stall_the_others(
    make_api_server: ServerFactory, broker: Broker
) -> None:
    server = await make_api_server(api_ws_buffer=100)
    assert server.app is not None
    hub = server.app.state.jobq.hub
    big = {"blob": base64.b64encode(os.urandom(45_000)).decode()}  # incompressible
    async with ws_connect(server.ws_url) as slow, ws_connect(server.ws_url) as fast:
        await slow.subscribe("all")
        await fast.subscribe("all")
        slow.connection.transport.pause_reading()  # type: ignore[attr-defined]
        ids: list[str] = []
        received: list[dict[str, Any]] = []
        for _ in range(400):  # about 24 MB for each client (more than socket buffers)
            job_id = (await broker.submit({"type": "simulation"})).job_id
            ids.append(job_id)
            claimed = (await broker.claim(WORKER)).jobs[0]
            await broker.complete(claimed.id, big, token=claimed.token)
            received += await fast.events(3)  # submitted, assigned, completed
            if len(hub.subscribers) == 1:  # the slow one was dropped; the fast one goes on
                break
        assert len(hub.subscribers) == 1
        assert [e["job_id"] for e in received if e["type"] == "job_completed"] == ids
        slow.connection.transport.resume_reading()  # type: ignore[attr-defined]
        code, reason = await slow.closed_by_server()
    assert code == 4429
    assert "slow consumer" in reason
    assert "since=" in reason


async def test_shutdown_closes_clients_with_1001_and_a_resume_point(
    api_settings: ApiSettings, broker: Broker
) -> None:
    async with serve(create_app(api_settings)) as server, ws_connect(server.ws_url) as ws:
        await ws.subscribe("all")
        job_id = (await broker.submit({"type": "simulation"})).job_id
        event = await ws.receive()
        assert event["job_id"] == job_id
        assert server.app is not None
        await server.app.state.jobq.stop()
        closed_code, reason = await ws.closed_by_server()
    assert closed_code == 1001
    assert f"since={event['event_id']}" in reason


async def test_every_instance_delivers_every_event(
    make_api_server: ServerFactory, broker: Broker
) -> None:
    one, two = await make_api_server(), await make_api_server()
    async with ws_connect(one.ws_url) as a, ws_connect(two.ws_url) as b:
        await a.subscribe("all")
        await b.subscribe("all")
        ids = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 5)]
        got_a = await a.events(5)
        got_b = await b.events(5)
    assert [e["job_id"] for e in got_a] == ids
    assert [e["event_id"] for e in got_a] == [e["event_id"] for e in got_b]
