"""Fixtures for ``jobq worker`` processes: real subprocesses on the test's Redis.

- ``worker_env``: the environment for ``jobq`` child processes (``JOBQ_REDIS_URL``,
  ``JOBQ_NAMESPACE`` from ``core_settings``).
- ``worker_process``: a factory of :class:`WorkerProcess`, each a ``jobq worker``
  subprocess that can be killed (SIGKILL), terminated (SIGTERM, drains) and restarted
  with the same id. All are stopped after the test.

    w = worker_process("--simulate", "--capability", "simulation", worker_id="w1")
    w.kill(); w.restart().wait_ready()

- :func:`eventually`: wait (in a test's event loop) until a condition holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jobq.settings import CoreSettings

#: The message a worker logs once it is registered and claiming.
READY_MESSAGE = "worker ready"


def jobq_executable() -> str:
    """Path of the ``jobq`` console script (next to this Python, else on PATH)."""
    beside = Path(sys.executable).with_name("jobq")
    found = str(beside) if beside.exists() else shutil.which("jobq")
    assert found is not None, "the jobq console script is not installed"
    return found


@dataclass
class WorkerProcess:
    """One ``jobq worker`` subprocess (restartable); its output goes to ``log_path``."""

    worker_id: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    exit_codes: list[int] = field(default_factory=list)

    def start(self) -> WorkerProcess:
        """Start it (appending to its log)."""
        assert not self.alive(), f"worker {self.worker_id} is already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int | None:
        """The current process id."""
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> WorkerProcess:
        """Block until the current start logged READY_MESSAGE (an info line: keep
        ``--log-level`` at info or below); fail with the log when the process exits first
        or the time runs out."""
        deadline = time.monotonic() + timeout
        while self.log().count(READY_MESSAGE) < self.starts:
            if not self.alive():
                raise RuntimeError(f"worker {self.worker_id} exited:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {self.worker_id} not ready:\n{self.log()[-3000:]}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """SIGKILL: the process dies holding whatever it claimed."""
        self.signal(signal.SIGKILL)
        self.wait(timeout=30)

    def terminate(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (drain) and wait for the exit; returns the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout=timeout)

    def signal(self, sig: int) -> None:
        """Send ``sig`` if the process runs."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int | None:
        """Wait for the process to exit; its exit code."""
        if self.process is None:
            return None
        code = self.process.wait(timeout=timeout)
        if len(self.exit_codes) < self.starts:
            self.exit_codes.append(code)
        return code

    def restart(self) -> WorkerProcess:
        """Start it again with the same id and flags (after it exited)."""
        if self.alive():
            self.kill()
        return self.start()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited after ``timeout``."""
        if not self.alive():
            return
        try:
            self.terminate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        """Everything it printed so far (all starts)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def records(self) -> list[dict[str, Any]]:
        """Its structured log lines, parsed (other lines are skipped)."""
        found = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return found


WorkerProcessFactory = Callable[..., WorkerProcess]


#: Where child processes keep compiled bytecode: outside the source tree, shared by every
#: test session. Without it, under PYTHONDONTWRITEBYTECODE, each ``jobq worker`` start
#: compiles every module again (2.7 s instead of 1.1 s here), which slows every restart.
PYCACHE = Path(tempfile.gettempdir()) / "jobq-test-pycache"


@pytest.fixture
def worker_env(core_settings: CoreSettings) -> dict[str, str]:
    """Environment for ``jobq`` child processes on the test's Redis and namespace (with
    a bytecode cache outside the tree, see :data:`PYCACHE`)."""
    env = {
        **os.environ,
        "JOBQ_REDIS_URL": core_settings.redis_url,
        "JOBQ_NAMESPACE": core_settings.namespace,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPYCACHEPREFIX": str(PYCACHE),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@pytest.fixture
def worker_process(worker_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcessFactory]:
    """``worker_process(*flags, worker_id=None, env=None, ready=True)``: start a
    ``jobq worker`` process (``--id`` is added; ``env`` entries override
    ``worker_env``, e.g. ``{"JOBQ_LEASE_SECONDS": "2"}``) and, unless ``ready=False``,
    wait until it claims. Every one is stopped after the test."""
    started: list[WorkerProcess] = []

    def factory(
        *flags: str,
        worker_id: str | None = None,
        env: Mapping[str, str] | None = None,
        ready: bool = True,
    ) -> WorkerProcess:
        worker_id = worker_id or f"w{len(started) + 1}"
        process = WorkerProcess(
            worker_id=worker_id,
            args=[jobq_executable(), "worker", "--id", worker_id, *flags],
            env={**worker_env, **(env or {})},
            log_path=tmp_path / "workers" / f"{worker_id}.log",
        )
        started.append(process.start())
        if ready:
            process.wait_ready()
        return process

    yield factory
    for process in started:
        process.stop()


async def eventually(
    check: Callable[[], Awaitable[object]], *, timeout: float = 30.0, interval: float = 0.02
) -> None:
    """Wait until ``await check()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met after {timeout} s: {check!r}")
        await asyncio.sleep(interval)
