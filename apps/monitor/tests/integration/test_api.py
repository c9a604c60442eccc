"""The monitor's JSON API."""

from __future__ import annotations

from starlette.testclient import TestClient

from jobq.broker import Broker
from jobq.models import WorkerCapabilities

WORKER = WorkerCapabilities(worker_id="w", capabilities=["simulation"])


async def test_overview_workers_and_queues(broker: Broker, signed_in_client: TestClient) -> None:
    await broker.register_worker(WORKER)
    await broker.submit_many(
        [{"type": "simulation"}, {"type": "upscale", "parameters": {"scale_factor": 2}}]
    )
    job = (await broker.claim(WORKER)).jobs[0]
    overview = signed_in_client.get("/api/overview").json()
    assert overview["success"] is True
    assert overview["workers"] == {"online": 1, "offline": 0}
    assert overview["by_status"]["assigned"] == 1
    assert overview["last_event_id"] == await broker.last_event_id()
    [worker] = signed_in_client.get("/api/workers").json()["workers"]
    assert worker["status"] == "online"
    assert worker["capabilities"]["worker_id"] == "w"
    assert worker["jobs"] == [
        {"id": job.id, "type": "simulation", "status": "assigned", "progress": 0}
    ]
    queues = signed_in_client.get("/api/queues").json()
    assert queues["stranded"] == 1  # the upscale job: nobody has that capability
    assert queues["workers_online"] == 1
    assert queues["queues"]["by_status"]["pending"] == 1


async def test_jobs_and_one_job_with_its_timeline(
    broker: Broker, signed_in_client: TestClient
) -> None:
    ids = [r.job_id for r in await broker.submit_many([{"type": "simulation"}] * 3)]
    page = signed_in_client.get("/api/jobs?limit=2").json()
    assert [j["id"] for j in page["jobs"]] == [ids[2], ids[1]]
    rest = signed_in_client.get(f"/api/jobs?limit=2&cursor={page['next_cursor']}").json()
    assert [j["id"] for j in rest["jobs"]] == [ids[0]]
    assert rest["next_cursor"] is None
    one = signed_in_client.get(f"/api/jobs/{ids[0]}").json()
    assert one["job"]["status"] == "pending"
    assert [e["type"] for e in one["timeline"]] == ["job_submitted"]
    assert one["timeline"][0]["job_type"] == "simulation"
    assert one["timeline_truncated"] is False
    bad = signed_in_client.get("/api/jobs?status=nope")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "VALIDATION_ERROR"
    missing = signed_in_client.get("/api/jobs/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == {"code": "JOB_NOT_FOUND", "message": "Job not found: nope"}


async def test_workflows_with_their_graph(broker: Broker, signed_in_client: TestClient) -> None:
    created = await broker.create_workflow(
        {
            "name": "chain",
            "steps": [{"type": "simulation"}, {"type": "simulation", "depends_on": 0}],
        }
    )
    [listed] = signed_in_client.get("/api/workflows").json()["workflows"]
    assert (listed["id"], listed["name"], listed["total_steps"]) == (
        created.workflow_id,
        "chain",
        2,
    )
    one = signed_in_client.get(f"/api/workflows/{created.workflow_id}").json()
    assert [s["status"] for s in one["steps"]] == ["pending", "waiting"]
    assert one["graph"]["edges"] == [{"source": 0, "target": 1}]
    assert [(n["index"], n["layer"]) for n in one["graph"]["nodes"]] == [(0, 0), (1, 1)]
    missing = signed_in_client.get("/api/workflows/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"


async def test_events_newest_or_after_an_id(broker: Broker, signed_in_client: TestClient) -> None:
    await broker.submit({"type": "simulation"})
    start = await broker.last_event_id()
    await broker.register_worker(WORKER)
    newest = signed_in_client.get("/api/events?limit=1").json()
    assert [e["type"] for e in newest["events"]] == ["worker_connected"]
    after = signed_in_client.get(f"/api/events?since={start}").json()
    assert [e["type"] for e in after["events"]] == ["worker_connected"]
    assert after["last_event_id"] == newest["last_event_id"]
    nothing = signed_in_client.get(f"/api/events?since={after['last_event_id']}").json()
    assert nothing["events"] == []
    assert nothing["last_event_id"] == after["last_event_id"]
    for query in ("since=oops", "limit=0", "limit=x"):
        response = signed_in_client.get(f"/api/events?{query}")
        assert response.status_code == 400, query
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_an_empty_stream(signed_in_client: TestClient) -> None:
    empty = signed_in_client.get("/api/events").json()
    assert empty == {"success": True, "events": [], "last_event_id": "0-0"}
