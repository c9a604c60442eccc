"""The original plan's job API cases (seed, Day 4 "Job Submission API Tests") and the
rest of ``/api/jobs``."""

from __future__ import annotations

import httpx
import pytest

from jobq.broker import Broker
from jobq.models import JobStatus, WorkerCapabilities
from jobq_testing.api import API_KEY

IMAGE_WORKER = WorkerCapabilities(worker_id="gpu-1", capabilities=["text-to-image"])
SIM_WORKER = WorkerCapabilities(worker_id="sim-1", capabilities=["simulation"])


async def test_submit_returns_a_job_id_and_the_job_is_pending_with_its_type(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    payload = {
        "type": "text-to-image",
        "prompt": "A serene landscape",
        "parameters": {"width": 512, "height": 512, "steps": 20},
        "priority": 60,
    }
    response = await api_client.post("/api/jobs/submit", json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["status"] == "submitted"
    job = await broker.get_job(body["job_id"])
    assert (job.status, job.type, job.prompt, job.priority) == (
        JobStatus.PENDING,
        "text-to-image",
        "A serene landscape",
        60,
    )
    assert job.parameters == payload["parameters"]
    stats = await broker.queue_stats()
    assert sum(shape.pending for shape in stats.shapes) == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "invalid-type", "parameters": {}}, "invalid-type"),
        ({"type": "text-to-image"}, "prompt"),
        ({"type": "text-to-image", "prompt": "x", "priority": 101}, "priority"),
        ({"type": "upscale", "parameters": {"scale_factor": 99}}, "scale_factor"),
        ({"type": "simulation", "priorty": 5}, "priorty"),
        ({"prompt": "no type"}, "type"),
        ({"type": "simulation", "webhook_url": "ftp://x"}, "webhook_url"),
    ],
)
async def test_invalid_payloads_are_400_validation_errors_naming_the_field(
    api_client: httpx.AsyncClient, payload: dict[str, object], field: str
) -> None:
    response = await api_client.post("/api/jobs/submit", json=payload)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert "validation" in body["error"]["message"].lower()
    assert field in body["error"]["message"]


@pytest.mark.parametrize(
    ("content", "content_type", "needle"),
    [
        (b'{"type": "simulation",', "application/json", "invalid JSON"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b'"simulation"', "application/json", "JSON object"),
        (b"", "application/json", "required"),
        (b'{"type": "simulation", "parameters": {"x": NaN}}', "application/json", "NaN"),
        (b"type=simulation", "application/x-www-form-urlencoded", "JSON object"),
    ],
)
async def test_malformed_or_non_object_bodies_are_400(
    api_client: httpx.AsyncClient, content: bytes, content_type: str, needle: str
) -> None:
    response = await api_client.post(
        "/api/jobs/submit", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert needle in error["message"]


async def test_an_oversized_body_is_413(api_client: httpx.AsyncClient) -> None:
    prompt = "x" * (1024 * 1024 + 1)
    response = await api_client.post(
        "/api/jobs/submit", json={"type": "text-to-image", "prompt": prompt}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_an_oversized_chunked_body_is_413(api_client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 64 * 1024

    response = await api_client.post(
        "/api/jobs/submit", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_small_chunked_body_is_accepted(api_client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"type": '
        yield b'"simulation"}'

    response = await api_client.post(
        "/api/jobs/submit", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("key", [None, "invalid_key", ""])
async def test_submit_requires_a_valid_api_key(
    api_client: httpx.AsyncClient, key: str | None
) -> None:
    headers = {"x-api-key": key} if key is not None else {}
    async with httpx.AsyncClient(transport=api_client._transport, base_url="http://jobq") as anon:
        response = await anon.post(
            "/api/jobs/submit",
            json={"type": "text-to-image", "prompt": "Test prompt"},
            headers=headers,
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_every_route_but_health_and_ready_needs_the_key(
    api_client: httpx.AsyncClient,
) -> None:
    app_routes = api_client._transport.app.routes  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=api_client._transport, base_url="http://jobq") as anon:
        for route in app_routes:
            methods = getattr(route, "methods", None)
            if not methods:
                continue
            path = route.path.replace("{job_id}", "x").replace("{workflow_id}", "x")
            for method in methods - {"HEAD"}:
                response = await anon.request(method, path)
                if route.path in ("/health", "/ready"):
                    assert response.status_code == 200, (method, path)
                else:
                    assert response.status_code == 401, (method, path, response.text)


async def test_a_priority_90_job_is_claimed_before_a_priority_50_one(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    regular = await api_client.post(
        "/api/jobs/submit",
        json={"type": "text-to-image", "prompt": "Regular priority job", "priority": 50},
    )
    urgent = await api_client.post(
        "/api/jobs/submit",
        json={"type": "text-to-image", "prompt": "High priority job", "priority": 90},
    )
    assert regular.status_code == urgent.status_code == 200
    first = (await broker.claim(IMAGE_WORKER)).jobs[0]
    second = (await broker.claim(IMAGE_WORKER)).jobs[0]
    assert (first.id, first.priority) == (urgent.json()["job_id"], 90)
    assert second.id == regular.json()["job_id"]


async def test_status_shows_progress_as_an_integer_and_the_result_as_an_object(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    job_id = (await broker.submit({"type": "simulation"})).job_id
    claimed = (await broker.claim(SIM_WORKER)).jobs[0]
    await broker.progress(job_id, 45, token=claimed.token)
    running = (await api_client.get(f"/api/jobs/{job_id}/status")).json()
    assert running["success"] is True
    job = running["job"]
    assert (job["id"], job["type"], job["status"], job["progress"]) == (
        job_id,
        "simulation",
        "running",
        45,
    )
    assert isinstance(job["created_at"], str)
    assert isinstance(job["started_at"], str)
    assert job["worker_id"] == "sim-1"
    await broker.complete(job_id, {"image_url": "result1.jpg"}, token=claimed.token)
    done = (await api_client.get(f"/api/jobs/{job_id}/status")).json()["job"]
    assert done["status"] == "completed"
    assert done["progress"] == 100
    assert done["result"] == {"image_url": "result1.jpg"}
    assert isinstance(done["completed_at"], str)
    assert done["retry_count"] == 0
    assert done["error"] is None


async def test_an_unknown_job_is_404_job_not_found(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get("/api/jobs/non-existent-job/status")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {"code": "JOB_NOT_FOUND", "message": "Job not found: non-existent-job"},
    }
    for path in ("/api/jobs/nope/cancel", "/api/jobs/nope/retry"):
        missing = await api_client.post(path)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "JOB_NOT_FOUND"
    assert (await api_client.get("/api/jobs/nope/webhooks")).status_code == 404


async def test_an_unknown_route_and_a_wrong_method_use_the_envelope(
    api_client: httpx.AsyncClient,
) -> None:
    missing = await api_client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    wrong = await api_client.delete("/api/jobs/submit")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_cancel_then_retry(api_client: httpx.AsyncClient, broker: Broker) -> None:
    job_id = (await broker.submit({"type": "simulation"})).job_id
    cancelled = await api_client.post(f"/api/jobs/{job_id}/cancel", json={"reason": "changed mind"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json() == {
        "success": True,
        "job_id": job_id,
        "status": "cancelled",
        "previous_status": "pending",
    }
    again = await api_client.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "INVALID_STATE"
    assert again.json()["error"]["message"].endswith("cancelled")
    retried = await api_client.post(f"/api/jobs/{job_id}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending"
    assert (await broker.get_job(job_id)).status == JobStatus.PENDING


async def test_idempotent_submit_returns_the_first_job(api_client: httpx.AsyncClient) -> None:
    payload = {"type": "simulation", "idempotency_key": "order-42"}
    first = (await api_client.post("/api/jobs/submit", json=payload)).json()
    second = (await api_client.post("/api/jobs/submit", json=payload)).json()
    assert first["job_id"] == second["job_id"]
    assert (first["duplicate"], second["duplicate"]) == (False, True)


async def test_listing_filters_and_pages_without_gaps_while_jobs_change(
    api_client: httpx.AsyncClient, broker: Broker
) -> None:
    sims = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 7)]
    await broker.submit({"type": "text-to-image", "prompt": "p"})
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"type": "simulation", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await api_client.get("/api/jobs", params=params)).json()
        seen += [job["id"] for job in page["jobs"]]
        if len(seen) == 3:  # jobs change state between pages: nothing is skipped
            for claimed in (await broker.claim(SIM_WORKER, max_jobs=7)).jobs:
                await broker.complete(claimed.id, {}, token=claimed.token)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(sims))
    done = (await api_client.get("/api/jobs", params={"status": "completed"})).json()
    assert {job["id"] for job in done["jobs"]} == set(sims)
    by_worker = (await api_client.get("/api/jobs", params={"worker": "sim-1"})).json()
    assert len(by_worker["jobs"]) == 7
    bad = await api_client.get("/api/jobs", params={"status": "sleeping"})
    assert bad.status_code == 400
    assert "status" in bad.json()["error"]["message"]
    bad_cursor = await api_client.get("/api/jobs", params={"cursor": "abc"})
    assert bad_cursor.status_code == 400
    assert "cursor" in bad_cursor.json()["error"]["message"]


async def test_openapi_document_has_examples_and_the_api_key_scheme(
    api_client: httpx.AsyncClient,
) -> None:
    doc = (await api_client.get("/openapi.json")).json()
    submit = doc["paths"]["/api/jobs/submit"]["post"]
    assert "text-to-image" in submit["requestBody"]["content"]["application/json"]["examples"]
    assert submit["security"] == [{"APIKeyHeader": []}]
    assert "400" in submit["responses"]
    assert "422" not in submit["responses"]
    assert doc["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "x-api-key"
    assert "security" not in doc["paths"]["/health"]["get"]
    assert API_KEY not in str(doc)
