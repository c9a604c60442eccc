"""``jobq up --demo`` as a new user runs it: no Redis URL, no key. It starts its own Redis,
the monitor, workers and demo traffic, prints the URL and the key; signing in with them
in Chromium shows live workers and jobs flowing; Ctrl-C stops every process.

Screenshots: ``reports/monitor-up-demo-*-{1280,768}.png``.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from jobq_testing.monitor import PageProblems, jobq_command, sign_in_page

READY = "Press Ctrl-C to stop."


class UpProcess:
    """``jobq up`` with its output read line by line in a thread."""

    def __init__(self, *args: str) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"JOBQ_REDIS_URL", "JOBQ_API_KEYS", "JOBQ_NAMESPACE"}
        }
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [jobq_command(), "up", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def read_until(self, marker: str, timeout: float) -> str:
        """Everything printed up to the line containing ``marker``."""
        while not any(marker in line for line in self.seen):
            try:
                self.seen.append(self.lines.get(timeout=timeout))
            except queue.Empty:
                raise AssertionError(
                    f"jobq up did not print {marker!r}:\n" + "\n".join(self.seen)
                ) from None
        return "\n".join(self.seen)

    def stop(self) -> int:
        """Ctrl-C, as a user would; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        finally:
            self._reader.join(timeout=10)  # reads to the end of the output
            if self.process.stdout is not None:
                self.process.stdout.close()


@pytest.fixture
def stack() -> Iterator[UpProcess]:
    up = UpProcess("--demo", "--workers", "3", "--api-port", "0", "--monitor-port", "0")
    yield up
    up.stop()


def listening(url: str) -> bool:
    host, port = re.sub(r"^https?://", "", url).rstrip("/").split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


@pytest.mark.timeout(180)
async def test_jobq_up_demo_shows_live_workers_and_jobs_flowing(
    stack: UpProcess, browser: Browser, screenshot_dir: Path
) -> None:
    banner = stack.read_until(READY, timeout=90)
    monitor = re.search(r"Monitor\s+(http://\S+?)/?\s", banner)
    key = re.search(r"API key\s+(\S+)", banner)
    assert monitor is not None, banner
    assert key is not None, banner
    assert "redis-server" in banner or "JOBQ_REDIS_URL" in banner or "embedded" in banner
    url = monitor.group(1)
    problems = PageProblems()
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = problems.watch(await context.new_page())
        await sign_in_page(page, url, key.group(1))
        cards = page.locator('.card.worker[data-status="online"]')
        await expect(cards).to_have_count(3, timeout=60_000)
        for pool in ("fast-lane", "standard", "heavy"):
            await expect(page.locator(f'[data-worker-id="demo-{pool}-1"]')).to_be_visible()
        await expect(page.locator("#feed li").first).to_be_visible(timeout=30_000)
        await page.goto(url + "/jobs")
        completed = page.locator('#live .badge[data-status="completed"]')
        await expect(completed.first).to_be_visible(timeout=60_000)
        await expect(page.locator("#feed")).to_contain_text("job completed", timeout=30_000)
        # Jobs keep flowing: the fleet's completed count grows without a reload.
        await page.goto(url + "/")
        stat = page.locator('dd[data-stat="completed"]')
        before = int(await stat.inner_text())
        await page.wait_for_function(
            "(n) => Number(document.querySelector('dd[data-stat=\"completed\"]').textContent) > n",
            arg=before,
            timeout=60_000,
        )
        for width, height in ((1280, 900), (768, 1024)):
            await page.set_viewport_size({"width": width, "height": height})
            for name, path in (("fleet", "/"), ("jobs", "/jobs"), ("workflows", "/workflows")):
                await page.goto(url + path)
                await page.wait_for_selector("#connection[data-state=live]")
                await page.screenshot(
                    path=str(screenshot_dir / f"monitor-up-demo-{name}-{width}.png"),
                    full_page=True,
                )
        assert problems.errors == []
    finally:
        await context.close()
    assert stack.stop() == 0
    output = stack.read_until("jobq up: stopped.", timeout=10)
    assert "Traceback" not in output
    assert not listening(url)


def test_nothing_outlives_a_killed_jobq_up() -> None:
    up = UpProcess("--workers", "1", "--api-port", "0", "--monitor-port", "0")
    try:
        banner = up.read_until(READY, timeout=90)
    finally:
        up.process.send_signal(signal.SIGKILL)  # no chance to clean up
        up.process.wait(timeout=30)
        up.stop()
    urls = re.findall(r"(?:Monitor|API)\s+(http://[\d.:]+)", banner)
    assert len(urls) >= 1, banner
    redis = re.search(r"Redis\s+redis://([\d.]+:\d+)/", banner)
    assert redis is not None, banner
    targets = [*urls, "http://" + redis.group(1)]
    deadline = time.monotonic() + 30
    while any(listening(url) for url in targets):
        assert time.monotonic() < deadline, f"still listening after jobq up died: {targets}"
        time.sleep(0.2)
