"""Actions: submit a simulation test job, a demo workflow, cancel, retry."""

from __future__ import annotations

from starlette.testclient import TestClient

from jobq.broker import Broker
from jobq.models import JobStatus, WorkerCapabilities
from jobq_testing.monitor import csrf_token

WORKER = WorkerCapabilities(worker_id="w", capabilities=["simulation"], pool_type="heavy")


async def test_submit_a_test_job_and_land_on_its_page(
    broker: Broker, signed_in_client: TestClient
) -> None:
    token = csrf_token(signed_in_client, "/jobs")
    response = signed_in_client.post(
        "/actions/submit",
        data={"csrf_token": token, "duration": "0.5", "steps": "2", "fail_rate": "",
              "priority": "80", "pool": "heavy", "count": "1"},
    )  # fmt: skip
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/jobs/")
    assert location.endswith("?notice=submitted")
    job_id = location.removeprefix("/jobs/").split("?")[0]
    job = await broker.get_job(job_id)
    assert (job.type, job.status, job.priority) == ("simulation", JobStatus.PENDING, 80)
    assert job.parameters == {"duration": 0.5, "steps": 2, "fail_rate": 0.0}
    assert job.requirements.pool_preference == "heavy"
    assert job.metadata == {"source": "jobq-monitor"}
    page = signed_in_client.get(location)
    assert "Job submitted." in page.text
    assert 'role="status"' in page.text
    claimed = (await broker.claim(WORKER)).jobs
    assert [j.id for j in claimed] == [job_id]


async def test_submit_several_with_the_defaults(
    broker: Broker, signed_in_client: TestClient
) -> None:
    token = csrf_token(signed_in_client, "/jobs")
    response = signed_in_client.post("/actions/submit", data={"csrf_token": token, "count": "3"})
    assert response.headers["location"] == "/jobs?notice=submitted-many"
    page = await broker.list_jobs()
    assert len(page.jobs) == 3
    assert all(j.parameters["duration"] == 4.0 for j in page.jobs)
    assert all(j.requirements.capabilities == ["simulation"] for j in page.jobs)


async def test_bad_test_job_input_is_a_clear_400(signed_in_client: TestClient) -> None:
    token = csrf_token(signed_in_client, "/jobs")
    for field, value in [
        ("duration", "-1"), ("steps", "many"), ("fail_rate", "2"),
        ("pool", "gold"), ("count", "1000"), ("bogus", "1"),
    ]:  # fmt: skip
        response = signed_in_client.post(
            "/actions/submit", data={"csrf_token": token, field: value}
        )
        assert response.status_code == 400, field
        assert "validation failed" in response.text
        assert field in response.text


async def test_cancel_then_retry_from_the_job_page(
    broker: Broker, signed_in_client: TestClient
) -> None:
    submitted = await broker.submit({"type": "simulation"})
    page = signed_in_client.get(f"/jobs/{submitted.job_id}").text
    assert 'id="cancel-job"' in page
    assert 'id="retry-job"' not in page
    token = csrf_token(signed_in_client, f"/jobs/{submitted.job_id}")
    cancelled = signed_in_client.post(
        f"/actions/jobs/{submitted.job_id}/cancel", data={"csrf_token": token}
    )
    assert cancelled.headers["location"] == f"/jobs/{submitted.job_id}?notice=cancelled"
    assert (await broker.get_job(submitted.job_id)).status == JobStatus.CANCELLED
    page = signed_in_client.get(cancelled.headers["location"]).text
    assert "Job cancelled." in page
    assert 'id="retry-job"' in page
    assert 'id="cancel-job"' not in page
    retried = signed_in_client.post(
        f"/actions/jobs/{submitted.job_id}/retry", data={"csrf_token": token}
    )
    assert retried.headers["location"] == f"/jobs/{submitted.job_id}?notice=retried"
    assert (await broker.get_job(submitted.job_id)).status == JobStatus.PENDING


async def test_refused_actions_explain_why(broker: Broker, signed_in_client: TestClient) -> None:
    submitted = await broker.submit({"type": "simulation"})
    token = csrf_token(signed_in_client)
    retry = signed_in_client.post(
        f"/actions/jobs/{submitted.job_id}/retry", data={"csrf_token": token}
    )
    assert retry.status_code == 409
    assert "INVALID_STATE" in retry.text or "Invalid state" in retry.text
    missing = signed_in_client.post("/actions/jobs/nope/cancel", data={"csrf_token": token})
    assert missing.status_code == 404
    assert "Job not found: nope" in missing.text


async def test_create_the_demo_workflow(broker: Broker, signed_in_client: TestClient) -> None:
    token = csrf_token(signed_in_client, "/workflows")
    response = signed_in_client.post("/actions/workflow", data={"csrf_token": token})
    assert response.status_code == 303
    workflow_id = response.headers["location"].removeprefix("/workflows/").split("?")[0]
    state = await broker.get_workflow(workflow_id)
    assert state.workflow.name == "demo-diamond"
    assert [s.depends_on for s in state.steps] == [[], [0], [0], [1, 2]]
    assert [s.status for s in state.steps] == ["pending", "waiting", "waiting", "waiting"]
    assert "Workflow created." in signed_in_client.get(response.headers["location"]).text
