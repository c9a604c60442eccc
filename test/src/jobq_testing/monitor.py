"""Fixtures for the jobq monitor: in-process apps and clients, ``jobq monitor`` and
``jobq worker`` processes, and a headless Chromium driven by Playwright.

- ``monitor_settings`` / ``monitor_app`` / ``monitor_client`` / ``signed_in_client``: the
  monitor app on the test's Redis and namespace, with a Starlette TestClient (the app
  runs in the client's own thread and event loop, so it makes its own broker).
- ``monitor_env``: environment for ``jobq`` child processes on the test's Redis.
- ``monitor_server``: a real ``jobq monitor`` process on a free port.
- ``worker_factory``: ``jobq worker --simulate`` processes.
- ``browser``: headless Debian Chromium (``/usr/bin/chromium``) driven by Playwright;
  ``playwright install`` is never needed. ``screenshot_dir``: ``reports/``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from jobq.settings import CoreSettings
from jobq_testing.net import LOCALHOST, free_port, wait_for_port

if TYPE_CHECKING:
    from fastapi import FastAPI
    from playwright.async_api import Browser, Page
    from starlette.testclient import TestClient

    from jobq_monitor.settings import MonitorSettings

MONITOR_API_KEY = "monitor-test-key"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


# ---------------------------------------------------------------------- in-process app
@pytest.fixture
def monitor_settings(core_settings: CoreSettings) -> MonitorSettings:
    """Monitor settings on the test's Redis and namespace; the key is MONITOR_API_KEY."""
    from jobq_monitor.settings import MonitorSettings

    return MonitorSettings(
        **core_settings.model_dump(exclude={"api_keys"}),
        api_keys=[MONITOR_API_KEY],
        monitor_secret="monitor-test-secret",
    )


@pytest.fixture
def monitor_app(monitor_settings: MonitorSettings) -> FastAPI:
    """The monitor app (it creates its own broker on first use)."""
    from jobq_monitor.app import create_app

    return create_app(monitor_settings)


@pytest.fixture
def monitor_client(monitor_app: FastAPI) -> Iterator[TestClient]:
    """A TestClient on the monitor app, not signed in (redirects are not followed)."""
    from starlette.testclient import TestClient

    with TestClient(monitor_app, follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, key: str = MONITOR_API_KEY) -> None:
    """Sign the client in through the sign-in form."""
    response = client.post("/signin", data={"api_key": key})
    assert response.status_code == 303, response.text


def csrf_token(client: TestClient, path: str = "/") -> str:
    """The CSRF token from a page's forms (the client must be signed in)."""
    page = client.get(path)
    found = CSRF_INPUT.search(page.text)
    assert found is not None, f"no CSRF token on {path}: {page.status_code}"
    return found.group(1)


@pytest.fixture
def signed_in_client(monitor_client: TestClient) -> TestClient:
    """The monitor TestClient, signed in with MONITOR_API_KEY."""
    sign_in(monitor_client)
    return monitor_client


# ---------------------------------------------------------------------- processes
@pytest.fixture
def monitor_env(core_settings: CoreSettings) -> dict[str, str]:
    """Environment for ``jobq`` processes on the test's Redis and namespace."""
    return {
        **os.environ,
        "JOBQ_REDIS_URL": core_settings.redis_url,
        "JOBQ_NAMESPACE": core_settings.namespace,
        "JOBQ_API_KEYS": MONITOR_API_KEY,
        "PYTHONUNBUFFERED": "1",
    }


def jobq_command() -> str:
    """Path of the ``jobq`` console script (next to this Python, else on PATH)."""
    beside = Path(sys.executable).with_name("jobq")
    found = str(beside) if beside.exists() else shutil.which("jobq")
    assert found is not None, "the jobq console script is not installed"
    return found


def has_command(name: str) -> bool:
    """True when ``jobq <name>`` exists (installed by another distribution)."""
    probe = subprocess.run(
        [jobq_command(), name, "--help"], capture_output=True, timeout=60, check=False
    )
    return probe.returncode == 0


@dataclass
class Process:
    """A ``jobq`` child process with its log file."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        """Start it (output goes to the log file)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def alive(self) -> bool:
        """True while it runs."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """What it printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Stop it (SIGTERM, then SIGKILL after ``timeout``); returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@dataclass
class MonitorServer:
    """A running ``jobq monitor`` process."""

    process: Process
    port: int

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://{LOCALHOST}:{self.port}"


@pytest.fixture
def monitor_server(monitor_env: dict[str, str], tmp_path: Path) -> Iterator[MonitorServer]:
    """A ``jobq monitor`` process on a free port (stopped after the test)."""
    port = free_port()
    process = Process(
        [jobq_command(), "monitor", "--host", LOCALHOST, "--port", str(port)],
        monitor_env,
        tmp_path / "monitor.log",
    ).start()
    try:
        wait_for_port(port, timeout=30, alive=process.alive)
    except (RuntimeError, TimeoutError) as exc:
        process.stop()
        pytest.fail(f"jobq monitor did not start: {exc}\n{process.log()[-3000:]}")
    yield MonitorServer(process, port)
    process.stop()


WorkerFactory = Callable[..., Process]


@pytest.fixture
def worker_factory(monitor_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerFactory]:
    """``worker_factory("w1", pool="fast-lane", capabilities=("simulation",))``: a
    ``jobq worker --simulate`` process on the test's Redis. All are stopped (SIGTERM:
    they drain) after the test."""
    started: list[Process] = []

    def factory(
        worker_id: str, *, pool: str | None = None, capabilities: tuple[str, ...] = ("simulation",)
    ) -> Process:
        args = [jobq_command(), "worker", "--simulate", "--id", worker_id]
        for capability in capabilities:
            args += ["--capability", capability]
        if pool:
            args += ["--pool", pool]
        process = Process(args, monitor_env, tmp_path / f"worker-{worker_id}.log").start()
        started.append(process)
        return process

    yield factory
    for process in started:
        process.stop()


# ---------------------------------------------------------------------- browser
@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium driven by Playwright (skipped when it is not installed;
    an error in CI)."""
    from playwright.async_api import async_playwright

    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture
def screenshot_dir(request: pytest.FixtureRequest) -> Path:
    """``reports/`` at the repository root (created)."""
    path = Path(request.config.rootpath) / "reports"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def sign_in_page(page: Page, base_url: str, key: str = MONITOR_API_KEY) -> None:
    """Open the monitor in ``page``, sign in through the form and wait until the page's
    WebSocket is live."""
    await page.goto(base_url + "/")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#connection[data-state=live]", timeout=20_000)


@dataclass
class PageProblems:
    """JavaScript errors and console errors a page reported."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        """Record ``page``'s uncaught exceptions and console errors."""
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        return page
