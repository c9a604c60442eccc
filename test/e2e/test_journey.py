"""The full journey of the original plan (seed, Day 5), with nothing simulated but the
work itself: a real ``jobq api`` process, real ``jobq worker`` processes, a WebSocket
client and a webhook receiver. Submit over HTTP -> a worker claims it -> progress over
the WebSocket -> completed -> the signed webhook arrives. Then a three-step workflow
across workers of different capabilities."""

from __future__ import annotations

import asyncio
from typing import Any

from jobq_api.signing import verify
from jobq_testing.api import WEBHOOK_SECRET, ApiProcess, WebhookReceiver, ws_connect
from jobq_testing.worker import WorkerProcessFactory


def check_signature(request: Any) -> None:
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert verify(
        WEBHOOK_SECRET, headers["x-jobq-timestamp"], request.body, headers["x-jobq-signature"]
    )


async def test_submit_claim_progress_complete_webhook(
    api_process: ApiProcess, worker_process: WorkerProcessFactory, webhook_receiver: WebhookReceiver
) -> None:
    worker_process(
        "--simulate", "--capability", "text-to-image", "--model-type", "stable-diffusion",
        "--gpu-memory", "12", worker_id="test-worker-1",
    )  # fmt: skip
    payload = {
        "type": "text-to-image",
        "prompt": "A magnificent dragon",
        "parameters": {"width": 512, "height": 512, "steps": 5, "guidance_scale": 7.5,
                       "duration": 1.0},
        "priority": 70,
        "webhook_url": webhook_receiver.url,
    }  # fmt: skip
    async with api_process.client() as http:
        submitted = await http.post("/api/jobs/submit", json=payload)
        assert submitted.status_code == 200, submitted.text
        body = submitted.json()
        assert (body["success"], body["status"]) == (True, "submitted")
        job_id = body["job_id"]

        async with ws_connect(api_process.ws_url) as ws:
            await ws.subscribe("job", job_id, since="0-0")  # from the start: nothing missed
            events = await ws.events(until=lambda e: e["type"] == "job_completed", timeout=30)
        types = [e["type"] for e in events]
        assert types[0] == "job_submitted"
        assigned = next(e for e in events if e["type"] == "job_assigned")
        assert (assigned["job_id"], assigned["worker_id"]) == (job_id, "test-worker-1")
        progress = [e["progress"] for e in events if e["type"] == "job_progress"]
        assert progress
        assert progress == sorted(progress)
        assert max(progress) < 100
        completed = events[-1]
        assert completed["job_id"] == job_id
        assert completed["result"]["simulated"] is True

        status = await http.get(f"/api/jobs/{job_id}/status")
        job = status.json()["job"]
        assert (job["id"], job["status"], job["progress"]) == (job_id, "completed", 100)
        assert job["result"] == completed["result"]
        assert job["worker_id"] == "test-worker-1"

    delivered = await webhook_receiver.wait_for(
        lambda seen: any(r.status == 200 and r.json().get("type") == "job_completed" for r in seen),
        timeout=30,
    )
    hook = next(r for r in delivered if r.json().get("type") == "job_completed")
    assert hook.json()["job_id"] == job_id
    assert hook.json()["result"] == completed["result"]
    check_signature(hook)


async def test_a_three_step_workflow_runs_across_workers_of_different_capabilities(
    api_process: ApiProcess, worker_process: WorkerProcessFactory, webhook_receiver: WebhookReceiver
) -> None:
    fleet = {
        "painter": ["--capability", "text-to-image", "--gpu-memory", "8"],
        "upscaler": ["--capability", "upscale", "--gpu-memory", "24"],
        "writer": ["--capability", "text-generation", "--model-type", "llm"],
    }
    workers = [
        worker_process("--simulate", *flags, worker_id=name, ready=False)
        for name, flags in fleet.items()
    ]
    await asyncio.gather(*(asyncio.to_thread(w.wait_ready) for w in workers))
    quick = {"duration": 0.3, "steps": 3}
    workflow = {
        "name": "Image Processing Pipeline",
        "steps": [
            {"type": "text-to-image", "prompt": "A scenic mountain view", "parameters": quick},
            {"type": "upscale", "parameters": {**quick, "scale_factor": 2}, "depends_on": [0]},
            {"type": "text-generation", "prompt": "Describe the picture", "parameters": quick,
             "depends_on": 1},
        ],
        "webhook_url": webhook_receiver.url,
    }  # fmt: skip
    async with api_process.client() as http:
        created = await http.post("/api/workflows/create", json=workflow)
        assert created.status_code == 200, created.text
        workflow_id, job_ids = created.json()["workflow_id"], created.json()["job_ids"]
        async with ws_connect(api_process.ws_url) as ws:
            await ws.subscribe("workflow", workflow_id, since="0-0")
            await ws.events(until=lambda e: e["type"] == "workflow_completed", timeout=45)
        status = (await http.get(f"/api/workflows/{workflow_id}/status")).json()
        assert status["workflow"]["status"] == "completed"
        assert status["workflow"]["completed_steps"] == 3
        ran_on = []
        for job_id in job_ids:
            job = (await http.get(f"/api/jobs/{job_id}/status")).json()["job"]
            assert job["status"] == "completed"
            ran_on.append(job["worker_id"])
        assert ran_on == ["painter", "upscaler", "writer"]
    delivered = await webhook_receiver.wait_for(
        lambda seen: any(r.json().get("type") == "workflow_completed" for r in seen if r.body),
        timeout=30,
    )
    hook = next(r for r in delivered if r.json().get("type") == "workflow_completed")
    assert hook.json()["workflow_id"] == workflow_id
    check_signature(hook)
