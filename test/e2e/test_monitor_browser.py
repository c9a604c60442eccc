"""The monitor in a real browser: headless Debian Chromium driven by Playwright against a
real ``jobq monitor`` process, with workers doing real work on the same Redis.

Screenshots go to ``reports/monitor-*-{1280,768}.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from jobq.broker import Broker
from jobq.models import JobStatus
from jobq_testing.core import BrokerFactory
from jobq_testing.monitor import (
    MONITOR_API_KEY,
    MonitorServer,
    PageProblems,
    WorkerFactory,
    sign_in_page,
)

WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 768, "height": 1024}
UNAUTHORIZED = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
LIVE = 30_000  # ms to wait for a live change (workers, jobs)

# Records every status the job page shows (the live region is replaced on each refresh).
WATCH_STATUS = """
() => {
  window.__jobqStatuses = [document.querySelector('#job-status').dataset.status];
  window.__jobqSamePage = true;
  new MutationObserver(() => {
    const badge = document.querySelector('#job-status');
    const seen = window.__jobqStatuses;
    if (badge && seen[seen.length - 1] !== badge.dataset.status) seen.push(badge.dataset.status);
  }).observe(document.querySelector('#live'), {childList: true, subtree: true});
}
"""


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
async def context(browser: Browser, monitor_server: MonitorServer) -> AsyncIterator[BrowserContext]:
    """A browser context, closed before the monitor stops (its pages hold WebSockets)."""
    opened = await browser.new_context(viewport=WIDE)
    yield opened
    await opened.close()


async def open_signed_in(
    context: BrowserContext, server: MonitorServer, problems: PageProblems
) -> Page:
    page = problems.watch(await context.new_page())
    await sign_in_page(page, server.url)
    return page


async def shoot(context: BrowserContext, url: str, name: str, directory: Path) -> None:
    """Screenshots of ``url`` at 1280 and 768 px wide (the context is signed in)."""
    for size in (WIDE, NARROW):
        page = await context.new_page()
        await page.set_viewport_size(size)
        await page.goto(url)
        await page.wait_for_selector("#connection[data-state=live]", timeout=20_000)
        path = directory / f"monitor-{name}-{size['width']}.png"
        await page.screenshot(path=str(path), full_page=True)
        await page.close()


async def test_nothing_loads_before_sign_in(
    context: BrowserContext,
    monitor_server: MonitorServer,
    problems: PageProblems,
    screenshot_dir: Path,
) -> None:
    page = problems.watch(await context.new_page())
    await page.goto(monitor_server.url + "/jobs")
    assert "/signin" in page.url
    await expect(page.get_by_role("heading", level=1)).to_contain_text("jobq monitor")
    await page.screenshot(path=str(screenshot_dir / "monitor-signin-1280.png"))
    await page.get_by_label("API key").fill("wrong key")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert problems.errors == ["console: " + UNAUTHORIZED]  # the refused sign-in answered 401
    problems.errors.clear()
    await page.get_by_label("API key").fill(MONITOR_API_KEY)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()
    assert page.url.endswith("/jobs")  # back where the user wanted to go
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    cookies = await context.cookies()
    [session] = [c for c in cookies if c["name"] == "jobq_monitor_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert problems.errors == []


async def test_workers_appear_live_with_their_pools(
    context: BrowserContext,
    monitor_server: MonitorServer,
    worker_factory: WorkerFactory,
    problems: PageProblems,
    screenshot_dir: Path,
) -> None:
    page = await open_signed_in(context, monitor_server, problems)
    await expect(page.get_by_text("No worker has registered yet")).to_be_visible()
    await page.evaluate("() => { window.__jobqSamePage = true; }")
    worker_factory("gpu-fast-1", pool="fast-lane")
    worker_factory("cpu-heavy-1", pool="heavy", capabilities=("simulation", "upscale"))
    fast = page.locator('[data-worker-id="gpu-fast-1"]')
    heavy = page.locator('[data-worker-id="cpu-heavy-1"]')
    await expect(fast).to_have_attribute("data-status", "online", timeout=LIVE)
    await expect(heavy).to_have_attribute("data-status", "online", timeout=LIVE)
    await expect(fast).to_contain_text("fast-lane")
    await expect(heavy).to_contain_text("upscale")
    assert await page.evaluate("() => window.__jobqSamePage") is True  # no reload
    # The feed announced them.
    await expect(page.locator("#feed")).to_contain_text("worker connected")
    await shoot(context, monitor_server.url + "/", "fleet", screenshot_dir)
    assert problems.errors == []


async def test_a_job_submitted_from_the_page_moves_live_to_completed(
    context: BrowserContext,
    monitor_server: MonitorServer,
    worker_factory: WorkerFactory,
    make_broker: BrokerFactory,
    problems: PageProblems,
    screenshot_dir: Path,
) -> None:
    page = await open_signed_in(context, monitor_server, problems)
    await page.get_by_role("link", name="Jobs").click()
    await page.get_by_text("Submit a test job").click()
    await page.get_by_label("Duration (s)").fill("3")
    await page.get_by_label("Progress steps").fill("3")
    await page.get_by_role("button", name="Submit test job").click()
    await expect(page.get_by_role("status").filter(has_text="Job submitted")).to_be_visible()
    status = page.locator("#job-status")
    await expect(status).to_have_attribute("data-status", "pending")
    await page.wait_for_selector("#connection[data-state=live]")
    await page.evaluate(WATCH_STATUS)
    worker_factory("sim-1")  # only now can anyone run it
    await expect(status).to_have_attribute("data-status", "running", timeout=LIVE)
    await expect(status).to_have_attribute("data-status", "completed", timeout=LIVE)
    seen = await page.evaluate("() => window.__jobqStatuses")
    assert seen[0] == "pending"
    assert seen[-1] == "completed"
    assert seen.index("running") < seen.index("completed")
    assert await page.evaluate("() => window.__jobqSamePage") is True  # live, not reloaded
    await expect(page.locator(".timeline")).to_contain_text("job completed")
    job_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    broker: Broker = await make_broker()
    assert (await broker.get_job(job_id)).status == JobStatus.COMPLETED
    await shoot(context, page.url, "job", screenshot_dir)
    await shoot(context, monitor_server.url + "/jobs", "jobs", screenshot_dir)
    assert problems.errors == []


async def test_cancel_from_the_page_stops_a_running_job(
    context: BrowserContext,
    monitor_server: MonitorServer,
    worker_factory: WorkerFactory,
    make_broker: BrokerFactory,
    problems: PageProblems,
) -> None:
    worker_factory("sim-1")
    broker: Broker = await make_broker()
    submitted = await broker.submit(
        {"type": "simulation", "parameters": {"duration": 120, "steps": 60}}
    )
    page = await open_signed_in(context, monitor_server, problems)
    await page.goto(f"{monitor_server.url}/jobs/{submitted.job_id}")
    status = page.locator("#job-status")
    await expect(status).to_have_attribute("data-status", "running", timeout=LIVE)
    await page.get_by_role("button", name="Cancel job").click()
    await expect(page.get_by_role("status").filter(has_text="Job cancelled")).to_be_visible()
    await expect(status).to_have_attribute("data-status", "cancelled")
    await expect(page.get_by_role("button", name="Retry job")).to_be_visible()
    assert (await broker.get_job(submitted.job_id)).status == JobStatus.CANCELLED
    assert problems.errors == []


async def test_a_workflow_graph_renders_and_fills_in_live(
    context: BrowserContext,
    monitor_server: MonitorServer,
    worker_factory: WorkerFactory,
    make_broker: BrokerFactory,
    problems: PageProblems,
    screenshot_dir: Path,
) -> None:
    # A job nobody can run, so the queues page has something to flag.
    broker: Broker = await make_broker()
    await broker.submit({"type": "simulation", "requirements": {"capabilities": ["video"]}})
    page = await open_signed_in(context, monitor_server, problems)
    await page.get_by_role("link", name="Workflows").click()
    await page.get_by_role("button", name="Create a demo workflow").click()
    graph = page.locator("#workflow-graph")
    await expect(graph).to_be_visible()
    nodes = graph.locator(".node")
    await expect(nodes).to_have_count(4)
    await expect(graph.locator(".edge")).to_have_count(4)
    await expect(graph.locator('.node[data-step="0"]')).to_have_attribute("data-status", "pending")
    await expect(graph.locator('.node[data-step="3"]')).to_have_attribute("data-status", "waiting")
    await page.evaluate("() => { window.__jobqSamePage = true; }")
    worker_factory("sim-1")
    worker_factory("sim-2")
    await expect(graph.locator('.node[data-step="1"]')).to_have_attribute(
        "data-status", "running", timeout=LIVE
    )
    await shoot(context, page.url, "workflow", screenshot_dir)
    await expect(graph.locator('.node[data-status="completed"]')).to_have_count(4, timeout=LIVE)
    await expect(page.locator("#workflow-status")).to_have_attribute("data-status", "completed")
    assert await page.evaluate("() => window.__jobqSamePage") is True
    await page.get_by_role("link", name="Queues").click()
    await expect(page.get_by_text("No live worker can run these")).to_be_visible()
    await shoot(context, monitor_server.url + "/queues", "queues", screenshot_dir)
    await shoot(context, monitor_server.url + "/events", "events", screenshot_dir)
    assert problems.errors == []
