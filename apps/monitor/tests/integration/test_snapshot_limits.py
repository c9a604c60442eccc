"""Bounded reads: long timelines, many workflows, unreadable records, a failing stream."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from jobq.broker import Broker
from jobq_monitor import snapshots


async def test_a_long_timeline_is_cut_and_says_so(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshots, "TIMELINE_SCAN_BUDGET", 1000)
    job = await broker.submit({"type": "simulation"})
    await broker.submit_many([{"type": "simulation"}] * 1100)
    await broker.cancel(job.job_id)  # after the others: beyond the budget
    view = await snapshots.job_view(broker, job.job_id)
    assert view.truncated is True
    assert [e.type for e in view.timeline] == ["job_submitted"]
    monkeypatch.setattr(snapshots, "TIMELINE_SCAN_BUDGET", 20_000)
    full = await snapshots.job_view(broker, job.job_id)
    assert full.truncated is False
    assert [e.type for e in full.timeline] == ["job_submitted", "job_cancelled"]


async def test_workflow_listing_is_bounded_and_skips_unreadable_records(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"name": "wf", "steps": [{"type": "simulation"}]}
    first = await broker.create_workflow(spec)
    await broker.create_workflow(spec)
    await broker.redis.hset(broker.keys.workflow("junk"), mapping={"name": "no id, no steps"})
    listed = await snapshots.workflows(broker)
    assert len(listed) == 2
    assert first.workflow_id in {wf.id for wf in listed}
    assert len(await snapshots.workflows(broker, limit=1)) == 1
    monkeypatch.setattr(snapshots, "WORKFLOW_SCAN_BUDGET", 1)
    assert len(await snapshots.workflows(broker)) <= 1


def test_a_failing_event_stream_closes_the_socket_so_the_page_reconnects(
    monitor_app: FastAPI, signed_in_client: TestClient
) -> None:
    assert signed_in_client.get("/api/overview").status_code == 200  # the broker exists now
    broker = monitor_app.state.monitor._broker

    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("stream read failed")

    broker.read_events = broken
    with signed_in_client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "subscribe_all"})
        assert ws.receive_json()["type"] == "subscribed"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1011
