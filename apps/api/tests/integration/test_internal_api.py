"""``/api/internal``: executors that report progress, results and failures over HTTP."""

from __future__ import annotations

import httpx

from jobq.broker import Broker
from jobq.models import JobStatus, WorkerCapabilities

WORKER = WorkerCapabilities(worker_id="http-exec", capabilities=["simulation"])


async def test_progress_complete_over_http_with_the_lease_token(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    job_id = (await broker.submit({"type": "simulation"})).job_id
    claimed = (await broker.claim(WORKER)).jobs[0]
    progress = await api_client.post(
        f"/api/internal/jobs/{job_id}/progress",
        json={"progress": 40, "message": "step 2/5", "token": claimed.token},
    )
    assert progress.status_code == 200, progress.text
    assert progress.json()["status"] == "running"
    job = await broker.get_job(job_id)
    assert (job.progress, job.progress_message) == (40, "step 2/5")
    done = await api_client.post(
        f"/api/internal/jobs/{job_id}/complete",
        json={"result": {"answer": 42}, "token": claimed.token},
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"success": True, "job_id": job_id, "status": "completed"}
    assert (await broker.get_job(job_id)).result == {"answer": 42}


async def test_a_stale_token_is_refused_with_409_lease_lost(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    job_id = (await broker.submit({"type": "simulation"})).job_id
    claimed = (await broker.claim(WORKER)).jobs[0]
    for path, body in (
        ("progress", {"progress": 10}),
        ("complete", {"result": {}}),
        ("fail", {"error": "boom"}),
    ):
        response = await api_client.post(
            f"/api/internal/jobs/{job_id}/{path}", json={**body, "token": claimed.token + 1}
        )
        assert response.status_code == 409, (path, response.text)
        assert response.json()["error"]["code"] == "LEASE_LOST"
    assert (await broker.get_job(job_id)).status == JobStatus.ASSIGNED


async def test_fail_retries_then_fails_for_good(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    spec = {"type": "simulation", "max_retries": 1, "retry_backoff": 0}
    job_id = (await broker.submit(spec)).job_id
    claimed = (await broker.claim(WORKER)).jobs[0]
    first = await api_client.post(
        f"/api/internal/jobs/{job_id}/fail", json={"error": "CUDA OOM", "token": claimed.token}
    )
    assert first.json() == {"success": True, "job_id": job_id, "will_retry": True}
    assert (await broker.get_job(job_id)).status == JobStatus.DELAYED
    await broker.tick()
    again = (await broker.claim(WORKER)).jobs[0]
    final = await api_client.post(
        f"/api/internal/jobs/{job_id}/fail",
        json={"error": "bad prompt", "retryable": False, "token": again.token},
    )
    assert final.json()["will_retry"] is False
    job = await broker.get_job(job_id)
    assert (job.status, job.error) == (JobStatus.FAILED, "bad prompt")


async def test_internal_bodies_are_validated(api_client: httpx.AsyncClient, broker: Broker) -> None:
    job_id = (await broker.submit({"type": "simulation"})).job_id
    cases = [
        ("progress", {"progress": 101}, "progress"),
        ("progress", {}, "progress"),
        ("complete", {"result": [1, 2]}, "result"),
        ("fail", {"error": ""}, "error"),
        ("fail", {"error": "x", "token": -1}, "token"),
    ]
    for path, body, field in cases:
        response = await api_client.post(f"/api/internal/jobs/{job_id}/{path}", json=body)
        assert response.status_code == 400, (path, body, response.text)
        assert field in response.json()["error"]["message"]
    missing = await api_client.post("/api/internal/jobs/nope/progress", json={"progress": 1})
    assert missing.status_code == 404


async def test_workflow_step_completed_is_idempotent_and_advances_the_workflow(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    created = await broker.create_workflow(
        {
            "name": "two steps",
            "steps": [{"type": "simulation"}, {"type": "simulation", "depends_on": 0}],
        }
    )
    first, second = created.job_ids
    await broker.claim(WORKER)
    path = f"/api/internal/workflows/{created.workflow_id}/job-completed"
    body = {"job_id": first, "result": {"ok": True}}
    once = await api_client.post(path, json=body)
    twice = await api_client.post(path, json=body)
    assert once.json() == {"success": True, "job_id": first, "completed": True}
    assert twice.json() == {"success": True, "job_id": first, "completed": False}
    assert (await broker.get_job(second)).status == JobStatus.PENDING
    other = await broker.create_workflow({"name": "other", "steps": [{"type": "simulation"}]})
    wrong = await api_client.post(
        f"/api/internal/workflows/{other.workflow_id}/job-completed", json=body
    )
    assert wrong.status_code == 400
    assert "not a step" in wrong.json()["error"]["message"]
