"""The pages show the broker's state (jobs made by any client), live regions included."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from jobq.broker import Broker
from jobq.models import WorkerCapabilities
from jobq_testing.core import BrokerFactory

PARTIAL = {"x-jobq-partial": "1"}
GPU = WorkerCapabilities(
    worker_id="gpu-1", capabilities=["simulation", "text-to-image"], pool_type="heavy",
    gpu_memory=24, gpu_name="RTX 4090", model_types=["sdxl"], concurrency=2,
)  # fmt: skip


async def test_fleet_shows_workers_their_jobs_and_who_is_offline(
    make_broker: BrokerFactory, signed_in_client: TestClient
) -> None:
    broker = await make_broker(worker_offline_seconds=60)
    await broker.register_worker(GPU)
    await broker.register_worker(WorkerCapabilities(worker_id="cpu-1", capabilities=["upscale"]))
    await broker.heartbeat("gpu-1", {})
    # cpu-1 was last seen two minutes ago: offline.
    seen = await broker.redis.zscore(broker.keys.workers_seen, "gpu-1")
    assert seen is not None
    await broker.redis.zadd(broker.keys.workers_seen, {"cpu-1": int(seen) - 120_000})
    await broker.submit({"type": "simulation"})
    job = (await broker.claim(GPU)).jobs[0]
    await broker.progress(job.id, 40, token=job.token)
    page = signed_in_client.get("/")
    assert page.status_code == 200
    html = page.text
    assert '<main id="main"' in html
    assert 'aria-current="page"' in html
    gpu = _card(html, "gpu-1")
    assert 'data-status="online"' in gpu
    assert "heavy" in gpu
    assert "RTX 4090 · 24 GB" in gpu
    assert "sdxl" in gpu
    assert "text-to-image" in gpu
    assert f"/jobs/{job.id}" in gpu
    assert "40 %" in gpu
    assert "1 of 2 busy" in gpu
    cpu = _card(html, "cpu-1")
    assert 'data-status="offline"' in cpu
    assert "offline" in cpu
    assert "2 min ago" in cpu
    live = signed_in_client.get("/", headers=PARTIAL)
    assert live.status_code == 200
    assert "<html" not in live.text
    assert 'data-worker-id="gpu-1"' in live.text


def _card(html: str, worker_id: str) -> str:
    """The HTML of one worker's card."""
    cards = html.split('<li class="card worker')[1:]
    found = [card for card in cards if f'data-worker-id="{worker_id}"' in card]
    assert len(found) == 1, f"no card for {worker_id}"
    return found[0]


async def test_an_empty_fleet_says_how_to_start_a_worker(signed_in_client: TestClient) -> None:
    assert "jobq worker --simulate" in signed_in_client.get("/").text


async def test_queues_flag_jobs_no_live_worker_can_run(
    broker: Broker, signed_in_client: TestClient
) -> None:
    await broker.register_worker(GPU)
    await broker.submit_many(
        [
            {
                "type": "simulation",
                "requirements": {"capabilities": ["simulation"], "pool_preference": "heavy"},
            },
            {"type": "simulation", "requirements": {"capabilities": ["video"], "gpu_memory": 80}},
            {"type": "simulation", "requirements": {"capabilities": ["video"], "gpu_memory": 80}},
            {"type": "simulation", "delay": 60},
        ]
    )  # fmt: skip
    html = signed_in_client.get("/queues").text
    assert "2 pending jobs cannot run" in html
    rows = [r for r in re.findall(r"<tr data-shape=.*?</tr>", html, re.S) if "delayed" not in r]
    rows = [r for r in rows if '<td class="num">0</td>' not in r]  # the delayed job's shape
    assert len(rows) == 2
    video = next(r for r in rows if "video" in r)
    assert 'class="stranded"' in video
    assert "No live worker can run these" in video
    assert "≥ 80 GB" in video
    heavy = next(r for r in rows if "heavy" in r)
    assert "gpu-1" in heavy
    assert "No live worker" not in heavy
    assert re.search(r"<th scope=\"row\">heavy</th><td class=\"num\">1</td>", html)
    assert re.search(r"delayed \(scheduled or backing off\)</th><td class=\"num\">1</td>", html)
    assert 'data-stat="pending">3<' in html


async def test_the_jobs_table_filters_and_pages(
    broker: Broker, signed_in_client: TestClient
) -> None:
    submitted = await broker.submit_many(
        [{"type": "simulation"} for _ in range(5)]
        + [{"type": "upscale", "parameters": {"scale_factor": 2}}]
    )
    ids = [r.job_id for r in submitted]
    await broker.cancel(ids[0])
    html = signed_in_client.get("/jobs").text
    assert all(job_id[:8] in html for job_id in ids)
    assert '<label for="q-status">Status</label>' in html
    assert "Submit a test job" in html
    assert "<option selected>upscale</option>" in signed_in_client.get("/jobs?type=upscale").text
    upscale = signed_in_client.get("/jobs?type=upscale", headers=PARTIAL).text
    assert re.findall(r'data-job-id="([^"]+)"', upscale) == [ids[5]]
    cancelled = signed_in_client.get("/jobs?status=cancelled", headers=PARTIAL).text
    assert re.findall(r'data-job-id="([^"]+)"', cancelled) == [ids[0]]
    first = signed_in_client.get("/jobs?limit=2&type=simulation", headers=PARTIAL).text
    shown = re.findall(r'data-job-id="([^"]+)"', first)
    assert shown == [ids[4], ids[3]]  # newest first
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older is not None
    second = signed_in_client.get(older.group(1).replace("&amp;", "&")).text
    assert re.findall(r'data-job-id="([^"]+)"', second) == [ids[2], ids[1]]
    assert "« Newest" in second
    assert "No jobs match these filters" in signed_in_client.get("/jobs?type=text-to-image").text


async def test_bad_filters_are_a_400_page_not_a_500(signed_in_client: TestClient) -> None:
    for query in ("status=bogus", "cursor=abc", "limit=0", "type=no%20spaces"):
        response = signed_in_client.get(f"/jobs?{query}")
        assert response.status_code == 400, query
        assert "validation failed" in response.text
        assert 'role="alert"' in response.text


async def test_the_job_page_shows_payload_timeline_result_and_retry_history(
    broker: Broker, signed_in_client: TestClient
) -> None:
    worker = WorkerCapabilities(worker_id="w", capabilities=["text-to-image"])
    submitted = await broker.submit(
        {
            "type": "text-to-image", "prompt": "a <b>red</b> fox", "parameters": {"steps": 30},
            "max_retries": 2, "retry_backoff": 0, "metadata": {"team": "imaging"},
        }
    )  # fmt: skip
    first = (await broker.claim(worker)).jobs[0]
    assert await broker.fail(first.id, "CUDA out of memory", token=first.token) is True
    await broker.tick()
    second = (await broker.claim(worker)).jobs[0]
    await broker.progress(second.id, 50, token=second.token, message="denoising")
    await broker.complete(second.id, {"url": "s3://bucket/fox.png"}, token=second.token)
    html = signed_in_client.get(f"/jobs/{submitted.job_id}").text
    assert 'id="job-status"' in html
    assert 'data-status="completed"' in html
    assert "a &lt;b&gt;red&lt;/b&gt; fox" in html  # escaped, never injected
    assert "&#34;steps&#34;: 30" in html or '"steps": 30' in html
    assert "imaging" in html
    assert "text-to-image" in html
    assert "s3://bucket/fox.png" in html
    assert "CUDA out of memory" in html  # the retry history
    assert "Retries used</dt><dd>1 of 2" in html
    section = html.split('<ol class="timeline">')[1].split("</ol>")[0]
    timeline = re.findall(r'<span class="ev-type">([^<]+)</span>', section)
    assert timeline[0] == "job submitted"
    assert timeline[-1] == "job completed"
    assert "job failed" in timeline
    assert "job progress" in timeline
    assert 'id="cancel-job"' not in html  # finished: nothing to cancel
    assert 'id="retry-job"' not in html


async def test_unknown_jobs_and_workflows_are_404_pages(signed_in_client: TestClient) -> None:
    response = signed_in_client.get("/jobs/nope", headers={"referer": "http://testserver/jobs"})
    assert response.status_code == 404
    assert "Job not found: nope" in response.text
    assert 'href="/jobs"' in response.text  # back to where the user came from
    response = signed_in_client.get("/workflows/nope")
    assert response.status_code == 404
    assert "Workflow not found" in response.text
    assert signed_in_client.get("/no/such/page").status_code == 404


async def test_the_workflow_page_draws_the_graph_with_each_step_s_state(
    broker: Broker, signed_in_client: TestClient
) -> None:
    created = await broker.create_workflow(
        {
            "name": "render",
            "steps": [
                {"type": "simulation"},
                {"type": "simulation", "depends_on": 0},
                {"type": "simulation", "depends_on": 0},
                {"type": "simulation", "depends_on": [1, 2]},
            ],
        }
    )
    worker = WorkerCapabilities(worker_id="w", capabilities=["simulation"])
    root = (await broker.claim(worker)).jobs[0]
    await broker.complete(root.id, {"ok": True}, token=root.token)
    listing = signed_in_client.get("/workflows").text
    assert f"/workflows/{created.workflow_id}" in listing
    assert ">render</a>" in listing
    html = signed_in_client.get(f"/workflows/{created.workflow_id}").text
    svg = html[html.index('<svg class="dag"') : html.index("</svg>")]
    nodes = dict(re.findall(r'data-step="(\d)" data-status="(\w+)"', svg))
    assert nodes == {"0": "completed", "1": "pending", "2": "pending", "3": "waiting"}
    assert len(re.findall(r'class="edge"', svg)) == 4
    assert 'aria-label="Step 3, simulation: waiting"' in svg
    assert "1 of 4 steps" in html
    live = signed_in_client.get(f"/workflows/{created.workflow_id}", headers=PARTIAL)
    assert '<svg class="dag"' in live.text


async def test_the_events_page_and_the_feed_show_the_newest_events(
    broker: Broker, signed_in_client: TestClient
) -> None:
    submitted = await broker.submit({"type": "simulation"})
    newest = await broker.last_event_id()
    html = signed_in_client.get("/events").text
    assert f'data-last-event-id="{newest}"' in html
    assert 'role="log"' in html
    assert 'aria-live="polite"' in html
    assert "job submitted" in html
    assert "simulation · priority 50" in html
    assert submitted.job_id[:8] in html
    fleet = signed_in_client.get("/").text
    assert 'aria-labelledby="feed-title"' in fleet  # the side feed on every other page
