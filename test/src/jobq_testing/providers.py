"""Where the tests' Redis comes from, in this order:

1. ``JOBQ_TEST_REDIS_URL``: a server the caller owns (the CI service container, the
   ``docker-compose.test.yml`` one). Each xdist worker uses its own database on it
   (1, 2, ...) and flushes that database before every test.
2. ``redis-server`` (or ``valkey-server``) on PATH: one process per pytest process, on a
   free port with its own temp dir, nothing persisted.
3. A testcontainers Redis (``JOBQ_TEST_REDIS_IMAGE``, default ``redis:7``) when a Docker
   engine answers.
4. fakeredis's embedded TCP server (runs Redis Functions through Lua), with a loud
   warning. With ``CI=true`` or ``JOBQ_TEST_REQUIRE_REAL_REDIS=1`` this is an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import warnings
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jobq_testing.net import LOCALHOST, free_port, wait_for_port
from jobq_testing.servers import (
    INSTALL_HINT,
    RedisServer,
    redis_server_binary,
    redis_server_version,
)

URL_ENV = "JOBQ_TEST_REDIS_URL"
IMAGE_ENV = "JOBQ_TEST_REDIS_IMAGE"
REQUIRE_REAL_ENV = "JOBQ_TEST_REQUIRE_REAL_REDIS"
DEFAULT_IMAGE = "redis:7"


class ProviderKind(StrEnum):
    """How the session's Redis was obtained."""

    EXTERNAL = "external"
    PROCESS = "redis-server"
    CONTAINER = "testcontainers"
    EMBEDDED = "embedded"


class EmbeddedRedisWarning(UserWarning):
    """The tests run on fakeredis's embedded server, not a real Redis."""


class RealRedisRequired(RuntimeError):
    """No real Redis is available and the run requires one (CI)."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def real_redis_required() -> bool:
    """True in CI (``CI=true``) or with ``JOBQ_TEST_REQUIRE_REAL_REDIS=1``."""
    return _truthy(os.environ.get("CI")) or _truthy(os.environ.get(REQUIRE_REAL_ENV))


def docker_answers() -> bool:
    """True when a Docker engine answers ``docker version`` within five seconds."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        probe = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0 and bool(probe.stdout.strip())


def choose_kind() -> ProviderKind:
    """The provider this run will use (no server is started here)."""
    if os.environ.get(URL_ENV):
        return ProviderKind.EXTERNAL
    if redis_server_binary():
        return ProviderKind.PROCESS
    if docker_answers():
        return ProviderKind.CONTAINER
    return ProviderKind.EMBEDDED


def describe(kind: ProviderKind) -> str:
    """One line for the pytest header."""
    if kind is ProviderKind.EXTERNAL:
        return f"{URL_ENV}={os.environ[URL_ENV]} (caller-owned; one database per xdist worker)"
    if kind is ProviderKind.PROCESS:
        binary = redis_server_binary() or "redis-server"
        return f"{binary} {redis_server_version(binary)} on a free port, own temp dir"
    if kind is ProviderKind.CONTAINER:
        return f"testcontainers {os.environ.get(IMAGE_ENV, DEFAULT_IMAGE)}"
    suffix = " -> ERROR: a real Redis is required here" if real_redis_required() else ""
    return f"EMBEDDED fakeredis server (not a real Redis!){suffix}"


@dataclass
class RedisProvider:
    """The session's Redis: a base URL without database and a database per test run."""

    kind: ProviderKind
    host: str
    port: int
    database: int = 0
    _stop: list[Any] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        """URL of this process's database."""
        return f"redis://{self.host}:{self.port}/{self.database}"

    def close(self) -> None:
        """Stop whatever this provider started."""
        while self._stop:
            self._stop.pop()()


def _external(database: int) -> RedisProvider:
    url = urlsplit(os.environ[URL_ENV])
    return RedisProvider(
        ProviderKind.EXTERNAL,
        host=url.hostname or LOCALHOST,
        port=url.port or 6379,
        database=database,
    )


def _process(directory: Path) -> RedisProvider:
    server = RedisServer(directory).start()
    return RedisProvider(ProviderKind.PROCESS, LOCALHOST, server.port, _stop=[server.stop])


def _container() -> RedisProvider:  # pragma: no cover - needs a Docker engine
    from testcontainers.redis import RedisContainer

    container = RedisContainer(os.environ.get(IMAGE_ENV, DEFAULT_IMAGE))
    container.start()
    host = container.get_container_host_ip()
    port = int(container.get_exposed_port(6379))
    return RedisProvider(ProviderKind.CONTAINER, host, port, _stop=[container.stop])


def _embedded() -> RedisProvider:
    if real_redis_required():
        raise RealRedisRequired(
            "no real Redis for the tests (no JOBQ_TEST_REDIS_URL, no redis-server on PATH, "
            f"no Docker engine) and CI=true / {REQUIRE_REAL_ENV}=1 forbids the embedded "
            f"fallback: {INSTALL_HINT}"
        )
    from fakeredis import TcpFakeServer

    port = free_port()
    server = TcpFakeServer((LOCALHOST, port), server_type="redis")
    _preload_library(server)
    thread = threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True)
    thread.start()
    wait_for_port(port)
    warnings.warn(
        "jobq tests are running on fakeredis's EMBEDDED server, not a real Redis: "
        f"results may differ. {INSTALL_HINT}",
        EmbeddedRedisWarning,
        stacklevel=2,
    )

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return RedisProvider(ProviderKind.EMBEDDED, LOCALHOST, port, _stop=[stop])


def _preload_library(server: Any) -> None:
    """Load the jobq function library in-process. fakeredis's TCP reader can mishandle a
    large request (the library is ~40 KB) that arrives in several pieces, so clients find
    it loaded and skip the upload; every other command goes over TCP as usual."""
    import fakeredis

    from jobq.functions import library

    local = fakeredis.FakeRedis(server=server.fake_server)
    local.function_load(library().source, replace=True)
    local.close()


def start_provider(kind: ProviderKind, directory: Path, worker_index: int) -> RedisProvider:
    """Start (or attach to) the session's Redis of the given kind."""
    if kind is ProviderKind.EXTERNAL:
        return _external(database=1 + worker_index % 15)
    if kind is ProviderKind.PROCESS:
        return _process(directory)
    if kind is ProviderKind.CONTAINER:  # pragma: no cover - needs a Docker engine
        return _container()
    return _embedded()
