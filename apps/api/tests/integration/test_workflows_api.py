"""The original plan's workflow API cases (seed, Day 4 "Workflow API Integration Tests")."""

from __future__ import annotations

import httpx

from jobq.broker import Broker
from jobq.models import JobStatus, WorkerCapabilities

WORKER = WorkerCapabilities(
    worker_id="gpu-1", capabilities=["text-to-image", "image-to-image", "upscale"]
)


async def test_create_a_workflow_with_two_linked_jobs(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    payload = {
        "name": "Image Generation Workflow",
        "description": "Generate and upscale images",
        "steps": [
            {
                "type": "text-to-image",
                "prompt": "A beautiful landscape",
                "parameters": {"width": 512, "height": 512},
            },
            {"type": "upscale", "parameters": {"scale_factor": 2}, "depends_on": 0},
        ],
    }
    response = await api_client.post("/api/workflows/create", json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert len(body["job_ids"]) == 2
    state = await broker.get_workflow(body["workflow_id"])
    assert state.workflow.name == payload["name"]
    assert state.workflow.status == "running"
    assert state.workflow.total_steps == 2
    jobs = [await broker.get_job(job_id) for job_id in body["job_ids"]]
    assert all(job.workflow_id == body["workflow_id"] for job in jobs)
    assert [job.status for job in jobs] == [JobStatus.PENDING, JobStatus.WAITING]


async def test_first_step_is_pending_and_its_dependants_wait(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    payload = {
        "name": "Sequential Processing",
        "steps": [
            {"type": "text-to-image", "prompt": "Base image"},
            {"type": "image-to-image", "prompt": "Enhanced image", "depends_on": [0]},
            {"type": "upscale", "parameters": {"scale_factor": 2}, "depends_on": [1]},
        ],
    }
    body = (await api_client.post("/api/workflows/create", json=payload)).json()
    statuses = [(await broker.get_job(job_id)).status for job_id in body["job_ids"]]
    assert statuses == [JobStatus.PENDING, JobStatus.WAITING, JobStatus.WAITING]


async def test_workflow_status_shows_progress_and_every_step(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    created = (
        await api_client.post(
            "/api/workflows/create",
            json={
                "name": "Test Workflow",
                "steps": [
                    {"type": "text-to-image", "prompt": "a"},
                    {"type": "image-to-image", "prompt": "b", "depends_on": 0},
                    {"type": "upscale", "parameters": {"scale_factor": 2}, "depends_on": 1},
                ],
            },
        )
    ).json()
    first = (await broker.claim(WORKER)).jobs[0]
    await broker.complete(first.id, {"image_url": "result1.jpg"}, token=first.token)
    second = (await broker.claim(WORKER)).jobs[0]
    await broker.progress(second.id, 50, token=second.token)

    response = await api_client.get(f"/api/workflows/{created['workflow_id']}/status")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    workflow = body["workflow"]
    assert (workflow["id"], workflow["name"], workflow["status"]) == (
        created["workflow_id"],
        "Test Workflow",
        "running",
    )
    assert (workflow["total_steps"], workflow["completed_steps"]) == (3, 1)
    assert abs(workflow["progress_percentage"] - 33.33) < 1
    steps = {step["job_id"]: step for step in body["steps"]}
    ids = created["job_ids"]
    assert steps[ids[0]]["status"] == "completed"
    assert steps[ids[0]]["result"] == {"image_url": "result1.jpg"}
    assert (steps[ids[1]]["status"], steps[ids[1]]["progress"]) == ("running", 50)
    assert steps[ids[2]]["status"] == "waiting"


async def test_an_unknown_workflow_is_404(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get("/api/workflows/nope/status")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "WORKFLOW_NOT_FOUND",
        "message": "Workflow not found: nope",
    }
    assert (await api_client.get("/api/workflows/nope/webhooks")).status_code == 404


async def test_invalid_workflows_are_400_naming_the_problem(api_client: httpx.AsyncClient) -> None:
    cases = [
        ({"name": "w", "steps": []}, "steps"),
        ({"name": "w", "steps": [{"type": "simulation", "depends_on": 5}]}, "depends_on"),
        (
            {
                "name": "w",
                "steps": [
                    {"type": "simulation", "depends_on": 1},
                    {"type": "simulation", "depends_on": 0},
                ],
            },
            "cycle",
        ),
        ({"name": "w", "steps": [{"type": "upscale", "scale_factor": 2}]}, "scale_factor"),
        ({"steps": [{"type": "simulation"}]}, "name"),
    ]
    for payload, needle in cases:
        response = await api_client.post("/api/workflows/create", json=payload)
        assert response.status_code == 400, (payload, response.text)
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert "validation" in error["message"]
        assert needle in error["message"], (payload, error)
