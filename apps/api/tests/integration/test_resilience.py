"""The API keeps serving across Redis restarts and unexpected states: the event hub and
the webhook dispatcher reconnect, errors stay in the envelope."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest

from jobq.broker import Broker
from jobq.models import WorkerCapabilities
from jobq_api import webhooks as webhooks_module
from jobq_api import ws as ws_module
from jobq_api.app import create_app
from jobq_api.outbox import GROUP, Claimed, Delivery
from jobq_api.settings import ApiSettings
from jobq_testing.api import WebhookReceiver, in_process_client, serve, ws_connect

WORKER = WorkerCapabilities(worker_id="w-1", capabilities=["simulation"])


async def test_events_and_webhooks_resume_after_a_redis_restart(
    api_settings: ApiSettings,
    redis_server_factory: Any,
    webhook_receiver: WebhookReceiver,
) -> None:
    server = redis_server_factory(appendonly=True)
    settings = api_settings.model_copy(update={"redis_url": server.url})
    spec = {"type": "simulation", "webhook_url": webhook_receiver.url}
    async with serve(create_app(settings)) as live, ws_connect(live.ws_url) as ws:
        await ws.subscribe("all")
        async with Broker.from_url(server.url, settings=settings) as before:
            first = (await before.submit(spec)).job_id
        assert (await ws.receive())["job_id"] == first
        await asyncio.sleep(1.1)  # the append-only file is synced every second
        await asyncio.to_thread(server.restart)
        async with Broker.from_url(server.url, settings=settings) as broker:
            second = (await broker.submit(spec)).job_id
            got = await ws.events(until=lambda e: e.get("job_id") == second, timeout=30)
            assert got[-1]["type"] == "job_submitted"
            claimed = (await broker.claim(WORKER)).jobs[0]
            await broker.complete(claimed.id, {}, token=claimed.token)
            (request,) = await webhook_receiver.wait_for(lambda seen: len(seen) >= 1, timeout=30)
        assert request.json()["job_id"] == claimed.id


async def test_a_subscription_while_redis_is_down_gets_an_error(
    api_settings: ApiSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobq_testing.net import free_port

    monkeypatch.setattr(ws_module, "HUB_WAIT", 0.2)
    down = api_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with serve(create_app(down)) as live, ws_connect(live.ws_url) as ws:
        await ws.send({"type": "subscribe_all"})
        reply = await ws.receive()
    assert reply["error"]["code"] == "UNAVAILABLE"


async def test_a_corrupt_job_record_is_a_500_in_the_envelope(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    await broker.redis.hset(broker.keys.job("broken"), mapping={"id": "broken", "type": "x"})
    response = await api_client.get("/api/jobs/broken/status")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "MALFORMED_JOB"


async def test_an_unexpected_error_is_a_500_in_the_envelope(
    api_settings: ApiSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(api_settings)

    async def explode(job_id: str) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(app.state.jobq.broker, "get_job", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://jobq", headers={"x-api-key": "api-test-key"}
    ) as client:
        response = await client.get("/api/jobs/x/status")
    assert response.status_code == 500
    assert response.json() == {
        "success": False,
        "error": {"code": "INTERNAL_ERROR", "message": "internal error"},
    }


async def test_lone_surrogates_are_a_400(api_client: httpx.AsyncClient) -> None:
    body = b'{"type": "text-to-image", "prompt": "\\ud800"}'
    response = await api_client.post(
        "/api/jobs/submit", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_the_dispatcher_recreates_its_group_when_the_stream_is_deleted(
    api_client: httpx.AsyncClient, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    await broker.redis.delete(broker.keys.events)
    await asyncio.sleep(1.5)  # the intake loop notices (NOGROUP) and joins again
    spec = {"type": "simulation", "webhook_url": webhook_receiver.url}
    await broker.submit(spec)
    claimed = (await broker.claim(WORKER)).jobs[0]
    await broker.complete(claimed.id, {}, token=claimed.token)
    (request,) = await webhook_receiver.wait_for(lambda seen: len(seen) >= 1)
    assert request.json()["job_id"] == claimed.id


async def test_takeover_acks_trimmed_entries_and_drops_stale_consumers(
    api_settings: ApiSettings, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks_module, "STALE_CONSUMER_MS", -1)
    events = broker.keys.events
    # Before any API runs: a consumer read an entry and died; the entry was trimmed since.
    await broker.redis.xgroup_create(events, GROUP, id="$", mkstream=True)
    await broker.submit({"type": "simulation"})
    read = await broker.redis.xreadgroup(GROUP, "dead", {events: ">"}, count=10)
    assert len(read[0][1]) == 1
    await broker.redis.xtrim(events, maxlen=0)
    settings = api_settings.model_copy(update={"api_webhook_reclaim_seconds": 0.2})
    async with in_process_client(create_app(settings)):
        for _ in range(300):
            pending = await broker.redis.xpending(events, GROUP)
            names = {c["name"] for c in await broker.redis.xinfo_consumers(events, GROUP)}
            if pending["pending"] == 0 and "dead" not in names:
                break
            await asyncio.sleep(0.02)
    assert pending["pending"] == 0
    assert "dead" not in names


async def test_jobs_purged_before_intake_and_lost_leases_are_harmless(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    state = api_client._transport.app.state.jobq  # type: ignore[attr-defined]
    dispatcher = state.webhooks
    spec = {"type": "simulation", "webhook_url": "http://127.0.0.1:9/hook"}
    job_id = (await broker.submit(spec)).job_id
    await broker.redis.delete(broker.keys.job(job_id))
    event_fields = {"type": "job_completed", "job_id": job_id}
    await dispatcher.take([("1-1", event_fields), ("1-2", {})])
    assert await state.outbox.pending() == 0
    delivery = Delivery("d1", "http://x", "s", "1-0", "job_completed", "{}")
    assert not await state.outbox.finish(Claimed(delivery, 123), done=True)


async def test_an_attempt_that_takes_too_long_times_out_and_is_retried(
    api_settings: ApiSettings, broker: Broker
) -> None:
    settings = api_settings.model_copy(update={"api_webhook_timeout": 0.3})
    writers: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read(65536)

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        async with in_process_client(create_app(settings)) as client:
            spec = {"type": "simulation", "webhook_url": f"http://127.0.0.1:{port}/hook"}
            job_id = (await broker.submit(spec)).job_id
            claimed = (await broker.claim(WORKER)).jobs[0]
            await broker.complete(claimed.id, {}, token=claimed.token)
            for _ in range(500):
                log = (await client.get(f"/api/jobs/{job_id}/webhooks")).json()["deliveries"]
                if log:
                    break
                await asyncio.sleep(0.02)
        assert log[0]["outcome"] == "retrying"
        assert "timed out" in log[0]["error"]
    finally:
        silent.close()
        for writer in writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
