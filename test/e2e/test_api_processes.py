"""``jobq api`` as real processes on one Redis: every instance serves every event, each
webhook is delivered once, a delivery pending when an API is killed is delivered after a
restart, SIGTERM closes WebSockets with a reason."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from jobq.broker import Broker
from jobq.models import WorkerCapabilities
from jobq_api.signing import verify
from jobq_testing.api import (
    WEBHOOK_SECRET,
    ApiProcess,
    ProcessFactory,
    WebhookReceiver,
    ws_connect,
)

WORKER = WorkerCapabilities(worker_id="e2e-worker", capabilities=["simulation"])


async def finish_all(broker: Broker, count: int) -> list[str]:
    done = []
    for _ in range(count):
        claimed = (await broker.claim(WORKER)).jobs[0]
        await broker.complete(claimed.id, {"n": len(done)}, token=claimed.token)
        done.append(claimed.id)
    return done


async def test_two_processes_each_serve_every_event_and_deliver_each_webhook_once(
    api_process_factory: ProcessFactory, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    one, two = api_process_factory(), api_process_factory()
    webhook_receiver.fail_next(3)
    async with ws_connect(one.ws_url) as a, ws_connect(two.ws_url, in_query=True) as b:
        await a.subscribe("all")
        await b.subscribe("all")
        async with one.client() as http:
            ids = []
            for _ in range(10):
                response = await http.post(
                    "/api/jobs/submit",
                    json={"type": "simulation", "webhook_url": webhook_receiver.url},
                )
                assert response.status_code == 200, response.text
                ids.append(response.json()["job_id"])
        await finish_all(broker, 10)
        got_a = await a.events(
            until=lambda e: e["type"] == "job_completed" and e["job_id"] == ids[-1]
        )
        got_b = await b.events(
            until=lambda e: e["type"] == "job_completed" and e["job_id"] == ids[-1]
        )
    assert [e["event_id"] for e in got_a] == [e["event_id"] for e in got_b]
    assert [e["job_id"] for e in got_a if e["type"] == "job_completed"] == ids
    await webhook_receiver.wait_for(
        lambda seen: len({r.json()["job_id"] for r in seen if r.status == 200}) == 10
    )
    await asyncio.sleep(1.0)  # a duplicate would show up by now
    delivered = webhook_receiver.delivered()
    assert sorted(r.json()["job_id"] for r in delivered) == sorted(ids)
    assert all(
        verify(WEBHOOK_SECRET, r.headers["X-Jobq-Timestamp"], r.body, r.headers["X-Jobq-Signature"])
        for r in webhook_receiver.requests
    )


async def test_a_delivery_pending_when_the_api_is_killed_is_delivered_after_a_restart(
    api_process_factory: ProcessFactory, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    api = api_process_factory(JOBQ_API_WEBHOOK_BACKOFF="2")
    webhook_receiver.fail_next(1)
    job_id = (
        await broker.submit({"type": "simulation", "webhook_url": webhook_receiver.url})
    ).job_id
    await finish_all(broker, 1)
    await webhook_receiver.wait_for(lambda seen: len(seen) == 1)
    async with api.client() as http:  # the failed attempt is settled: the retry is queued
        for _ in range(500):
            log = (await http.get(f"/api/jobs/{job_id}/webhooks")).json()["deliveries"]
            if log:
                break
            await asyncio.sleep(0.02)
    assert [(e["attempt"], e["outcome"]) for e in log] == [(1, "retrying")]
    api.kill()  # SIGKILL while the retry waits in the outbox
    await asyncio.sleep(2.5)
    assert len(webhook_receiver.requests) == 1
    await asyncio.to_thread(api.start)
    seen = await webhook_receiver.wait_for(lambda seen: len(seen) == 2)
    assert [r.status for r in seen] == [500, 200]
    assert seen[1].json()["job_id"] == job_id
    async with api.client() as http:
        log = (await http.get(f"/api/jobs/{job_id}/webhooks")).json()["deliveries"]
    assert [(e["attempt"], e["outcome"]) for e in log] == [(1, "retrying"), (2, "delivered")]


async def test_an_event_read_by_a_killed_instance_is_taken_over(
    api_process_factory: ProcessFactory, broker: Broker, webhook_receiver: WebhookReceiver
) -> None:
    # An instance reads the event from the group and dies before it acknowledges it:
    # simulated by reading it under another consumer's name while no API runs.
    api = api_process_factory()
    job_id = (
        await broker.submit({"type": "simulation", "webhook_url": webhook_receiver.url})
    ).job_id
    api.stop()
    await finish_all(broker, 1)
    stolen = await broker.redis.xreadgroup(
        "jobq-api-webhooks", "dead-consumer", {broker.keys.events: ">"}, count=1000, block=10
    )
    assert any(fields.get("type") == "job_completed" for _, fields in stolen[0][1])
    await asyncio.to_thread(api.start)
    (request,) = await webhook_receiver.wait_for(lambda seen: len(seen) >= 1, timeout=30)
    assert request.json()["job_id"] == job_id


async def test_sigterm_closes_websockets_with_1001_and_a_resume_point(
    api_process: ApiProcess, broker: Broker
) -> None:
    async with ws_connect(api_process.ws_url) as ws:
        await ws.subscribe("all")
        await broker.submit({"type": "simulation"})
        event = await ws.receive()
        stopping = asyncio.create_task(asyncio.to_thread(api_process.stop))
        close_code, reason = await ws.closed_by_server()
        code = await stopping
    assert close_code == 1001
    assert f"since={event['event_id']}" in reason
    assert code == 0, api_process.log
    assert "Application shutdown complete" in api_process.log


def test_jobq_api_refuses_to_start_without_api_keys(api_env: dict[str, str]) -> None:
    env = {**api_env, "JOBQ_API_KEYS": ""}
    result = subprocess.run(
        [sys.executable, "-m", "jobq.cli", "api", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "JOBQ_API_KEYS" in result.stderr
    assert "Traceback" not in result.stderr
