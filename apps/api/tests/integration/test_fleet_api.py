"""Workers, queues, health, readiness and metrics."""

from __future__ import annotations

import httpx

from jobq.broker import Broker
from jobq.models import WorkerCapabilities
from jobq_api.app import create_app
from jobq_api.settings import ApiSettings
from jobq_testing.api import API_KEY, in_process_client


async def test_workers_and_queues(api_client: httpx.AsyncClient, broker: Broker) -> None:
    worker = WorkerCapabilities(
        worker_id="gpu-1", gpu_memory=24, capabilities=["text-to-image"], pool_type="fast-lane"
    )
    await broker.register_worker(worker)
    await broker.heartbeat("gpu-1", {})
    await broker.submit_many([{"type": "text-to-image", "prompt": "p"}] * 3)
    await broker.submit(
        {"type": "simulation", "requirements": {"pool_preference": "heavy", "gpu_memory": 48}}
    )
    workers = (await api_client.get("/api/workers")).json()
    assert workers["success"] is True
    (only,) = workers["workers"]
    assert only["capabilities"]["worker_id"] == "gpu-1"
    assert only["status"] == "online"
    queues = (await api_client.get("/api/queues")).json()["queues"]
    assert queues["pools"] == {"any": 3, "heavy": 1}
    assert queues["by_status"]["pending"] == 4
    runnable = {shape["pending"]: shape["runnable_by"] for shape in queues["shapes"]}
    assert runnable == {3: ["gpu-1"], 1: []}


async def test_health_and_ready_need_no_key(api_client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(transport=api_client._transport, base_url="http://jobq") as anon:
        assert (await anon.get("/health")).json() == {"status": "ok"}
        assert (await anon.get("/ready")).json() == {"status": "ready"}


async def test_ready_is_503_while_redis_is_down(api_settings: ApiSettings) -> None:
    from jobq_testing.net import free_port

    down = api_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with in_process_client(create_app(down)) as client:
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "NOT_READY"
        submit = await client.post("/api/jobs/submit", json={"type": "simulation"})
        assert submit.status_code == 503
        assert submit.json()["error"]["code"] == "UNAVAILABLE"


async def test_metrics_export_jobs_queues_and_latencies(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    hub = api_client._transport.app.state.jobq.hub  # type: ignore[attr-defined]
    await hub.started.wait()
    job_id = (await broker.submit({"type": "simulation"})).job_id
    await broker.submit({"type": "text-to-image", "prompt": "p"})
    worker = WorkerCapabilities(worker_id="w", capabilities=["simulation"])
    claimed = (await broker.claim(worker)).jobs[0]
    await broker.complete(job_id, {}, token=claimed.token)
    await _until_observed(hub, job_id)
    response = await api_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'jobq_jobs{state="pending"} 1.0' in text
    assert 'jobq_jobs{state="completed"} 1.0' in text
    assert 'jobq_queue_depth{pool="any"} 1.0' in text
    assert "jobq_queue_depth_by_shape{" in text
    assert "jobq_claim_latency_seconds_count 1.0" in text
    assert 'jobq_end_to_end_latency_seconds_count{outcome="completed"} 1.0' in text
    assert "jobq_websocket_clients 0.0" in text
    assert "jobq_webhook_pending 0.0" in text
    async with httpx.AsyncClient(transport=api_client._transport, base_url="http://jobq") as anon:
        assert (await anon.get("/metrics")).status_code == 401
    assert API_KEY not in text


async def _until_observed(hub: object, job_id: str) -> None:
    import asyncio

    for _ in range(500):
        if getattr(hub, "cursor", "0-0") != "0-0":
            events = await hub.broker.read_events(hub.cursor)  # type: ignore[attr-defined]
            if not events:
                return
        await asyncio.sleep(0.01)
