"""Webhooks: signed, retried with backoff from a durable outbox, delivered once per event
across instances, logged per job and workflow."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from jobq.broker import Broker
from jobq.models import WorkerCapabilities
from jobq_api.app import create_app
from jobq_api.settings import ApiSettings
from jobq_api.signing import verify
from jobq_testing.api import WEBHOOK_SECRET, WebhookReceiver, in_process_client

WORKER = WorkerCapabilities(worker_id="w-1", capabilities=["simulation"])


async def finish(broker: Broker, result: dict[str, Any] | None = None) -> str:
    claimed = (await broker.claim(WORKER)).jobs[0]
    await broker.complete(claimed.id, result or {"ok": True}, token=claimed.token)
    return claimed.id


def signed(request: Any) -> bool:
    return verify(
        WEBHOOK_SECRET,
        request.headers["X-Jobq-Timestamp"],
        request.body,
        request.headers["X-Jobq-Signature"],
    )


async def test_a_completed_job_is_posted_once_with_a_valid_signature(
    api_client: httpx.AsyncClient, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    submitted = await api_client.post(
        "/api/jobs/submit", json={"type": "simulation", "webhook_url": webhook_receiver.url}
    )
    job_id = submitted.json()["job_id"]
    await finish(broker, {"image_url": "out.png"})
    (request,) = await webhook_receiver.wait_for(lambda seen: len(seen) >= 1)
    body = request.json()
    assert (body["type"], body["job_id"], body["status"]) == ("job_completed", job_id, "completed")
    assert body["result"] == {"image_url": "out.png"}
    assert request.path == "/hook"
    assert request.headers["X-Jobq-Event"] == "job_completed"
    assert request.headers["Content-Type"] == "application/json"
    assert signed(request)
    assert not verify("other-secret", request.headers["X-Jobq-Timestamp"], request.body,
                      request.headers["X-Jobq-Signature"])  # fmt: skip
    log = await _log(api_client, f"/api/jobs/{job_id}/webhooks", 1)
    assert [(e["attempt"], e["outcome"], e["status_code"]) for e in log] == [(1, "delivered", 200)]
    await asyncio.sleep(0.3)
    assert len(webhook_receiver.requests) == 1


async def test_a_receiver_failing_twice_gets_it_on_the_third_attempt(
    api_client: httpx.AsyncClient, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_next(2)
    job_id = (
        await broker.submit({"type": "simulation", "webhook_url": webhook_receiver.url})
    ).job_id
    await finish(broker)
    seen = await webhook_receiver.wait_for(lambda seen: any(r.status == 200 for r in seen))
    assert [r.status for r in seen] == [500, 500, 200]
    assert [r.headers["X-Jobq-Attempt"] for r in seen] == ["1", "2", "3"]
    assert len({r.headers["X-Jobq-Delivery"] for r in seen}) == 1
    assert all(signed(r) for r in seen)
    # Exponential backoff: 0.2 s, then 0.4 s (api_settings), each plus up to 10 % jitter.
    assert seen[1].at - seen[0].at >= 0.18
    assert seen[2].at - seen[1].at >= 0.38
    log = await _log(api_client, f"/api/jobs/{job_id}/webhooks", 3)
    assert [(e["outcome"], e["status_code"]) for e in log] == [
        ("retrying", 500),
        ("retrying", 500),
        ("delivered", 200),
    ]
    assert log[0]["next_attempt_at"]
    assert log[0]["error"] == "HTTP 500"


async def test_a_delivery_is_given_up_after_the_configured_attempts(
    api_settings: ApiSettings, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    settings = api_settings.model_copy(update={"api_webhook_attempts": 2})
    webhook_receiver.fail_next(10)
    async with in_process_client(create_app(settings)) as client:
        job_id = (
            await broker.submit({"type": "simulation", "webhook_url": webhook_receiver.url})
        ).job_id
        await finish(broker)
        log = await _log(client, f"/api/jobs/{job_id}/webhooks", 2)
        assert [e["outcome"] for e in log] == ["retrying", "failed"]
        metrics = (await client.get("/metrics")).text
    assert 'jobq_webhook_deliveries_total{outcome="failed"} 1.0' in metrics
    assert "jobq_webhook_failed_attempts_total 2.0" in metrics
    assert len(webhook_receiver.requests) == 2


async def test_an_unreachable_receiver_is_retried(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    from jobq_testing.net import free_port

    url = f"http://127.0.0.1:{free_port()}/hook"
    job_id = (await broker.submit({"type": "simulation", "webhook_url": url})).job_id
    await finish(broker)
    log = await _log(api_client, f"/api/jobs/{job_id}/webhooks", 1)
    assert log[0]["outcome"] == "retrying"
    assert log[0]["status_code"] is None
    assert "Connect" in log[0]["error"]


async def test_only_final_events_are_delivered(
    api_client: httpx.AsyncClient, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    spec = {"type": "simulation", "webhook_url": webhook_receiver.url, "max_retries": 1}
    job_id = (await broker.submit(spec)).job_id
    claimed = (await broker.claim(WORKER)).jobs[0]
    await broker.progress(job_id, 50, token=claimed.token)
    assert await broker.fail(job_id, "flaky", token=claimed.token)  # will retry: no webhook
    cancelled = (await broker.submit(spec)).job_id
    await broker.cancel(cancelled)
    (request,) = await webhook_receiver.wait_for(lambda seen: len(seen) >= 1)
    assert (request.json()["type"], request.json()["job_id"]) == ("job_cancelled", cancelled)
    await asyncio.sleep(0.5)
    assert len(webhook_receiver.requests) == 1


async def test_workflow_webhooks_on_completion_and_failure(
    api_client: httpx.AsyncClient, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    steps = [{"type": "simulation"}, {"type": "simulation", "depends_on": 0}]
    done = await api_client.post(
        "/api/workflows/create",
        json={"name": "ok", "steps": steps, "webhook_url": webhook_receiver.url},
    )
    for _ in steps:
        await finish(broker)
    failing = (
        await api_client.post(
            "/api/workflows/create",
            json={
                "name": "bad",
                "steps": [{"type": "simulation", "max_retries": 0}],
                "webhook_url": webhook_receiver.url,
            },
        )
    ).json()
    claimed = (await broker.claim(WORKER)).jobs[0]
    await broker.fail(claimed.id, "boom", token=claimed.token, retryable=False)
    seen = await webhook_receiver.wait_for(lambda seen: len(seen) >= 2)
    bodies = {r.json()["workflow_id"]: r.json() for r in seen}
    ok = bodies[done.json()["workflow_id"]]
    assert (ok["type"], ok["status"]) == ("workflow_completed", "completed")
    bad = bodies[failing["workflow_id"]]
    assert (bad["type"], bad["status"]) == ("workflow_failed", "failed")
    assert "boom" in bad["error"]
    assert all(signed(r) for r in seen)
    log = await _log(api_client, f"/api/workflows/{failing['workflow_id']}/webhooks", 1)
    assert log[0]["event_type"] == "workflow_failed"


async def test_two_instances_deliver_each_webhook_once(
    api_settings: ApiSettings, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_next(5)
    async with (
        in_process_client(create_app(api_settings)),
        in_process_client(create_app(api_settings)),
    ):
        spec = {"type": "simulation", "webhook_url": webhook_receiver.url}
        ids = [r.job_id for r in await broker.submit_many([spec] * 20)]
        for _ in ids:
            await finish(broker)
        seen = await webhook_receiver.wait_for(
            lambda seen: len({r.json()["job_id"] for r in seen if r.status == 200}) == 20
        )
        await asyncio.sleep(0.5)
    delivered = [r.json()["job_id"] for r in webhook_receiver.delivered()]
    assert sorted(delivered) == sorted(ids)  # each exactly once
    assert len(seen) <= 25


async def test_a_pending_delivery_survives_a_restart(
    api_settings: ApiSettings, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    settings = api_settings.model_copy(update={"api_webhook_backoff": 1.0})
    webhook_receiver.fail_next(1)
    async with in_process_client(create_app(settings)):
        job_id = (
            await broker.submit({"type": "simulation", "webhook_url": webhook_receiver.url})
        ).job_id
        await finish(broker)
        await webhook_receiver.wait_for(lambda seen: len(seen) == 1)
    # Stopped with the retry pending; nothing is delivered while no API runs.
    await asyncio.sleep(1.2)
    assert len(webhook_receiver.requests) == 1
    async with in_process_client(create_app(settings)):
        seen = await webhook_receiver.wait_for(lambda seen: len(seen) == 2)
    assert [r.status for r in seen] == [500, 200]
    assert seen[1].json()["job_id"] == job_id


async def test_an_attempt_in_flight_at_shutdown_is_handed_back(
    api_settings: ApiSettings, broker: Broker
) -> None:
    hanging = _HangingReceiver()
    await hanging.start()
    try:
        async with in_process_client(create_app(api_settings)) as client:
            job_id = (
                await broker.submit({"type": "simulation", "webhook_url": hanging.url})
            ).job_id
            await finish(broker)
            await asyncio.wait_for(hanging.arrived.wait(), 15)
            state = client._transport.app.state.jobq  # type: ignore[attr-defined]
            assert await state.outbox.pending() == 1
        # Stopped mid-attempt: the delivery is due again at once, the attempt not counted.
        hanging.answer = 200
        async with in_process_client(create_app(api_settings)) as client:
            log = await _log(client, f"/api/jobs/{job_id}/webhooks", 1)
        assert [(e["attempt"], e["outcome"]) for e in log] == [(1, "delivered")]
    finally:
        await hanging.stop()


class _HangingReceiver:
    """An HTTP server whose first request hangs until the client gives up."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.answer: int | None = None
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.arrived.set()
        while self.answer is None:
            await asyncio.sleep(0.02)
            if reader.at_eof():
                writer.close()
                return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


async def _log(client: httpx.AsyncClient, path: str, count: int) -> list[dict[str, Any]]:
    """The delivery log at ``path`` once it has ``count`` entries."""
    for _ in range(750):
        response = await client.get(path)
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["deliveries"]
        if len(entries) >= count:
            return entries
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{path}: fewer than {count} entries")
