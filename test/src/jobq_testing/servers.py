"""Real ``redis-server`` processes started by the tests, each on a free port in its own
temp dir. Used for the session's default server, for extra servers a test asks for
(restart and persistence tests) and for the nodes of a local Redis Cluster."""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from jobq_testing.net import LOCALHOST, free_port, wait_for_port

INSTALL_HINT = (
    "install Redis >= 7 so the tests can start their own server: "
    "`apt-get install redis-server` (Debian/Ubuntu), `brew install redis` (macOS), "
    "or point JOBQ_TEST_REDIS_URL at a Redis you own (e.g. `docker compose -f "
    "docker-compose.test.yml up -d` then JOBQ_TEST_REDIS_URL=redis://localhost:6390)"
)


def redis_server_binary() -> str | None:
    """Path of ``redis-server`` (or ``valkey-server``) on PATH, if any."""
    return shutil.which("redis-server") or shutil.which("valkey-server")


def redis_server_version(binary: str) -> str:
    """The version a ``redis-server`` binary reports, e.g. ``7.0.15``."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    for part in out.stdout.split():
        if part.startswith("v="):
            return part[2:]
    return out.stdout.strip()


@dataclass
class RedisServer:
    """One ``redis-server`` process owned by the tests.

    ``appendonly=True`` turns on the append-only file (fsync every second), so
    :meth:`restart` keeps the data; without it the server keeps nothing on disk.
    """

    directory: Path
    appendonly: bool = False
    extra_args: tuple[str, ...] = ()
    binary: str = field(default_factory=lambda: redis_server_binary() or "redis-server")
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{LOCALHOST}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        """Where the server writes its log."""
        return self.directory / "redis.log"

    def command(self) -> list[str]:
        """The command line that starts this server."""
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", LOCALHOST,
            "--dir", str(self.directory),
            "--logfile", str(self.log_path),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            *self.extra_args,
        ]  # fmt: skip

    def start(self, *, timeout: float = 10.0) -> RedisServer:
        """Start the process (on a new free port unless one is set) and wait until it
        accepts connections. Retries a few ports when another process wins the race."""
        self.directory.mkdir(parents=True, exist_ok=True)
        keep_port = self.port != 0
        for _attempt in range(5):
            if not keep_port:
                self.port = free_port()
            self.process = subprocess.Popen(
                self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
            try:
                wait_for_port(self.port, timeout=timeout, alive=self.alive)
            except RuntimeError:
                if keep_port:
                    break
                continue  # lost the port race: another one
            return self
        log = self.log_path.read_text() if self.log_path.exists() else ""
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log[-2000:]}")

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: an append-only server flushes its file first)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL the server: what a crashed machine looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self, *, timeout: float = 10.0) -> RedisServer:
        """Stop and start again on the same port and directory."""
        self.stop()
        return self.start(timeout=timeout)
