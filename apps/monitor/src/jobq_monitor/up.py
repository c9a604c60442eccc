"""``jobq up``: the whole local stack in one command.

Redis (``JOBQ_REDIS_URL`` when set; else a ``redis-server`` from PATH in a temp dir on a
free port; else fakeredis's embedded server, with a warning), then ``jobq api``, the
monitor and N simulation workers with different capabilities and pools, each a child
process with its log in the temp dir. ``--demo`` also submits a steady stream of demo
jobs and a workflow. Ctrl-C (or SIGTERM) stops everything: workers first (they drain),
then the monitor and the API, then the Redis this command started.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from jobq.broker import Broker
from jobq.settings import CoreSettings
from jobq_monitor.actions import demo_workflow

LOCALHOST = "127.0.0.1"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class EmbeddedRedisWarning(UserWarning):
    """``jobq up`` runs on fakeredis's embedded server: fine for a demo, not for work."""


@dataclass(frozen=True)
class WorkerProfile:
    """One kind of simulation worker ``jobq up`` starts."""

    pool: str
    capabilities: tuple[str, ...]
    gpu_memory: float = 0
    model_types: tuple[str, ...] = ()

    def args(self, worker_id: str) -> list[str]:
        """``jobq worker`` arguments for a worker of this profile."""
        args = ["worker", "--simulate", "--id", worker_id, "--pool", self.pool]
        for capability in self.capabilities:
            args += ["--capability", capability]
        for model in self.model_types:
            args += ["--model-type", model]
        return [*args, "--gpu-memory", f"{self.gpu_memory:g}"]

    def describe(self) -> str:
        """``fast-lane: simulation, text-generation``."""
        gpu = f", {self.gpu_memory:g} GB GPU" if self.gpu_memory else ""
        return f"{self.pool}: {', '.join(self.capabilities)}{gpu}"


PROFILES = (
    WorkerProfile("fast-lane", ("simulation", "text-generation")),
    WorkerProfile("standard", ("simulation", "text-to-image", "image-to-image"), 24, ("sdxl",)),
    WorkerProfile("heavy", ("simulation", "upscale", "text-to-image"), 80, ("sdxl", "flux")),
)


def worker_plan(count: int) -> list[tuple[str, WorkerProfile]]:
    """``count`` workers, cycling through :data:`PROFILES`: ``[(worker_id, profile)]``."""
    plan = []
    for index in range(count):
        profile = PROFILES[index % len(PROFILES)]
        plan.append((f"demo-{profile.pool}-{index // len(PROFILES) + 1}", profile))
    return plan


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_or_free(port: int, host: str = LOCALHOST) -> int:
    """``port`` when it is free (0: any), else a free one."""
    if port:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return free_port(host)
            return port
    return free_port(host)


def wait_for_port(port: int, *, timeout: float, alive: Callable[[], bool]) -> None:
    """Block until ``port`` accepts connections; RuntimeError when ``alive()`` turns False."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((LOCALHOST, port), 0.2):
            return
        if not alive():
            raise RuntimeError(f"the process meant to listen on port {port} exited")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on port {port} after {timeout:g} s")
        time.sleep(0.05)


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` (Linux) that makes the child get SIGTERM when ``jobq up`` dies,
    even by SIGKILL, so no stack outlives it. Children are started from the main thread
    (the signal follows the thread that forked)."""
    if not sys.platform.startswith("linux"):
        return None

    def arm() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the line above
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


# ---------------------------------------------------------------------- Redis
@dataclass
class RedisHandle:
    """The Redis the stack uses; ``stop`` stops it when ``jobq up`` started it."""

    url: str
    kind: str
    stop: Callable[[], None] = lambda: None


def start_redis(directory: Path, environ: dict[str, str]) -> RedisHandle:
    """The stack's Redis: JOBQ_REDIS_URL, else a local redis-server, else embedded."""
    if environ.get("JOBQ_REDIS_URL"):
        return RedisHandle(environ["JOBQ_REDIS_URL"], "JOBQ_REDIS_URL")
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary:
        return _redis_server(binary, directory)
    return _embedded()


def _redis_server(binary: str, directory: Path) -> RedisHandle:
    directory.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):
        port = free_port()
        process = subprocess.Popen(
            [
                binary, "--port", str(port), "--bind", LOCALHOST, "--dir", str(directory),
                "--save", "", "--appendonly", "no", "--logfile", str(directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )  # fmt: skip
        try:
            wait_for_port(port, timeout=15, alive=lambda p=process: p.poll() is None)  # type: ignore[misc]
        except RuntimeError:
            continue  # lost the port to another process: try another
        return RedisHandle(
            f"redis://{LOCALHOST}:{port}/0",
            f"{Path(binary).name} in {directory} (temporary)",
            stop=lambda p=process: _terminate(p, 10),  # type: ignore[misc]
        )
    raise RuntimeError(f"{binary} did not start; see {directory / 'redis.log'}")


def _embedded() -> RedisHandle:
    try:
        import fakeredis
        from fakeredis import TcpFakeServer
    except ImportError:
        raise RuntimeError(
            "no Redis: set JOBQ_REDIS_URL, install redis-server (apt-get install redis-server, "
            "brew install redis), or install the embedded fallback: "
            "pip install 'jobq-monitor[embedded]'"
        ) from None
    from jobq.functions import library

    port = free_port()
    server = TcpFakeServer((LOCALHOST, port), server_type="redis")
    # Load the function library in-process: fakeredis's TCP reader can mishandle one
    # large request arriving in pieces, so clients find the library and skip the upload.
    local = fakeredis.FakeRedis(server=server.fake_server)
    local.function_load(library().source, replace=True)
    local.close()
    thread = threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True)
    thread.start()
    warnings.warn(
        "no JOBQ_REDIS_URL and no redis-server on PATH: running on fakeredis's EMBEDDED "
        "server, fine for a look around, not for real work",
        EmbeddedRedisWarning,
        stacklevel=2,
    )

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return RedisHandle(
        f"redis://{LOCALHOST}:{port}/0", "embedded fakeredis (in this process)", stop
    )


# ---------------------------------------------------------------------- processes
def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Child:
    """A ``jobq`` child process of the stack."""

    name: str
    args: list[str]
    log_path: Path
    port: int | None = None
    essential: bool = True
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self, env: dict[str, str]) -> Child:
        """Start it in its own session (Ctrl-C reaches ``jobq up`` only, which stops the
        children in order); output goes to its log file."""
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.args,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        return self

    def alive(self) -> bool:
        """True while it runs."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        """The end of its log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process is not None:
            _terminate(self.process, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


def jobq_command() -> list[str]:
    """How to run ``jobq`` (the console script beside this Python, else ``python -m``)."""
    beside = Path(sys.executable).with_name("jobq")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("jobq")
    return [found] if found else [sys.executable, "-m", "jobq.cli"]


def has_command(name: str) -> bool:
    """True when another distribution installed ``jobq <name>``."""
    from importlib.metadata import entry_points

    return any(entry.name == name for entry in entry_points(group="jobq.commands"))


# ---------------------------------------------------------------------- demo traffic
def demo_job(rng: random.Random) -> dict[str, Any]:
    """One demo job: mostly short simulations across the pools, some that fail and retry."""
    roll = rng.random()
    duration = round(rng.uniform(1.0, 6.0), 1)
    params: dict[str, Any] = {"duration": duration, "steps": rng.randint(2, 6)}
    spec: dict[str, Any] = {
        "type": "simulation",
        "priority": rng.choice((30, 50, 50, 70, 90)),
        "metadata": {"source": "jobq up --demo"},
        "retry_backoff": 1.0,
    }
    if roll < 0.15:
        params["fail_rate"] = 0.6  # shows failures, retries and the retry history
    if roll < 0.6:
        pool = rng.choice(("fast-lane", "standard", "heavy"))
        spec["requirements"] = {"capabilities": ["simulation"], "pool_preference": pool}
    spec["parameters"] = params
    return spec


async def demo_traffic(
    broker: Broker,
    *,
    interval: float = 1.5,
    workflow_every: float = 45.0,
    rng: random.Random | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Submit demo jobs every ``interval`` seconds (on average) and a demo workflow now and
    every ``workflow_every`` seconds, until ``stop`` is set. Errors are reported, not fatal."""
    rng = rng or random.Random()
    stop = stop or asyncio.Event()
    next_workflow = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() >= next_workflow:
                await broker.create_workflow(demo_workflow())
                next_workflow = time.monotonic() + workflow_every
            await broker.submit(demo_job(rng))
        except Exception as exc:  # keep the demo going through a Redis hiccup
            print(f"jobq up: demo submission failed: {exc}", file=sys.stderr, flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.uniform(0.5, 1.5) * interval)


# ---------------------------------------------------------------------- the stack
@dataclass
class UpOptions:
    """What ``jobq up`` was asked for."""

    workers: int = 3
    demo: bool = False
    host: str = LOCALHOST
    api_port: int = 8000
    monitor_port: int = 8001


@dataclass
class Stack:
    """Redis, the API, the monitor and the workers of one ``jobq up``."""

    options: UpOptions
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    out: Callable[[str], None] = lambda line: print(line, flush=True)
    children: list[Child] = field(default_factory=list)
    redis: RedisHandle | None = None
    api_key: str = ""
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="jobq-up-")))

    def child_env(self) -> dict[str, str]:
        """The environment of every child: the stack's Redis and key."""
        assert self.redis is not None
        return {
            **self.environ,
            "JOBQ_REDIS_URL": self.redis.url,
            "JOBQ_API_KEYS": self.api_key,
            "PYTHONUNBUFFERED": "1",
        }

    def start(self) -> None:
        """Start everything and wait until the API and the monitor answer."""
        self.spawn()
        self.wait_ready()

    def spawn(self) -> None:
        """Start Redis and every child (call from the main thread, see _die_with_parent)."""
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.api_key = self.environ.get("JOBQ_API_KEYS", "").split(",")[0].strip()
        if not self.api_key:
            self.api_key = secrets.token_urlsafe(18)
        self.redis = start_redis(self.workdir / "redis", self.environ)
        jobq = jobq_command()
        host = self.options.host
        if has_command("api"):
            port = port_or_free(self.options.api_port, host)
            args = [*jobq, "api", "--host", host, "--port", str(port)]
            self.children.append(Child("api", args, logs / "api.log", port))
        else:
            self.out("jobq up: `jobq api` is not installed (jobq-api): starting without the API")
        port = port_or_free(self.options.monitor_port, host)
        args = [*jobq, "monitor", "--host", host, "--port", str(port)]
        self.children.append(Child("monitor", args, logs / "monitor.log", port))
        for worker_id, profile in worker_plan(self.options.workers):
            self.children.append(
                Child(
                    worker_id, [*jobq, *profile.args(worker_id)], logs / f"{worker_id}.log",
                    essential=False,
                )
            )  # fmt: skip
        env = self.child_env()
        for child in self.children:
            child.start(env)

    def wait_ready(self) -> None:
        """Wait until the API and the monitor accept connections."""
        for child in self.children:
            if child.port is not None:
                try:
                    wait_for_port(child.port, timeout=60, alive=child.alive)
                except (RuntimeError, TimeoutError) as exc:
                    raise RuntimeError(
                        f"jobq {child.name} did not start ({exc}):\n{child.log_tail()}"
                    ) from None

    def url(self, name: str) -> str | None:
        """The URL of the child ``name`` (``api`` or ``monitor``), if it runs."""
        for child in self.children:
            if child.name == name and child.port is not None:
                host = LOCALHOST if self.options.host in ("0.0.0.0", "") else self.options.host  # noqa: S104
                return f"http://{host}:{child.port}"
        return None

    def banner(self) -> list[str]:
        """What ``jobq up`` prints once everything runs."""
        assert self.redis is not None
        lines = ["", "jobq is up.", ""]
        monitor = self.url("monitor")
        lines.append(f"  Monitor   {monitor}/   (sign in with the API key)")
        api = self.url("api")
        if api:
            lines.append(f"  API       {api}   (header x-api-key, OpenAPI at {api}/openapi.json)")
        lines.append(f"  API key   {self.api_key}")
        lines.append(f"  Redis     {self.redis.url}   ({self.redis.kind})")
        for worker_id, profile in worker_plan(self.options.workers):
            lines.append(f"  Worker    {worker_id}   ({profile.describe()})")
        if self.options.demo:
            lines.append("  Demo      submitting simulation jobs and a workflow")
        lines += [f"  Logs      {self.workdir / 'logs'}", "", "Press Ctrl-C to stop.", ""]
        return lines

    def dead_essential(self) -> Child | None:
        """An essential child (API, monitor) that exited, if any."""
        return next((c for c in self.children if c.essential and not c.alive()), None)

    def stop(self) -> None:
        """Stop the workers (they drain), then the monitor and the API, then Redis."""
        for child in reversed(self.children):  # workers were started last
            if not child.essential and child.alive() and child.process is not None:
                child.process.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            child.stop(timeout=20 if not child.essential else 10)
        if self.redis is not None:
            self.redis.stop()
        shutil.rmtree(self.workdir / "redis", ignore_errors=True)


async def run(stack: Stack, stop: asyncio.Event | None = None) -> int:
    """Run the stack until Ctrl-C / SIGTERM or ``stop`` is set (0), or until the API or
    the monitor dies (1)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    demo: asyncio.Task[None] | None = None
    broker: Broker | None = None
    try:
        stack.spawn()
        await asyncio.to_thread(stack.wait_ready)
        for line in stack.banner():
            stack.out(line)
        if stack.options.demo:
            assert stack.redis is not None
            settings = CoreSettings(
                redis_url=stack.redis.url,
                namespace=stack.environ.get("JOBQ_NAMESPACE") or "default",
                api_keys=[stack.api_key],
            )
            broker = Broker.from_url(settings=settings)
            demo = asyncio.create_task(demo_traffic(broker, stop=stop))
        while not stop.is_set():
            dead = stack.dead_essential()
            if dead is not None:
                stack.out(f"jobq up: jobq {dead.name} exited; stopping.\n{dead.log_tail()}")
                code = 1
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
    except RuntimeError as exc:
        stack.out(f"jobq up: {exc}")
        code = 1
    finally:
        stop.set()
        stack.out("jobq up: stopping…")
        if demo is not None:
            await demo
        if broker is not None:
            await broker.close()
        await asyncio.to_thread(stack.stop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        stack.out("jobq up: stopped.")
    return code
