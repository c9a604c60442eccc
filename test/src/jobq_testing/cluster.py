"""A real Redis Cluster for tests: three masters, each a local ``redis-server`` process.

``redis_cluster`` (session-scoped) starts the nodes on free ports with
``--cluster-enabled yes``, each in its own temp dir, joins them with
``redis-cli --cluster create ... --cluster-replicas 0``, waits until every node reports
``cluster_state:ok`` and stops them all at the end of the session.

With ``JOBQ_TEST_REDIS_CLUSTER=1`` the core fixtures run against that cluster:
``core_settings`` (and so ``make_broker``, ``broker``, ``client`` and everything built
from ``core_settings.redis_url``) points at ``redis+cluster://<first node>``, and the
cluster is flushed before each test (the cluster has one database, which stands in for
the per-test database of a single server). ``redis_url`` stays the single test server.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from jobq.connection import connect
from jobq.settings import CoreSettings

#: Set to 1 to run the core fixtures against a local 3-master cluster.
CLUSTER_ENV = "JOBQ_TEST_REDIS_CLUSTER"
MASTERS = 3
HOST = "127.0.0.1"


def cluster_requested() -> bool:
    """True when ``JOBQ_TEST_REDIS_CLUSTER`` asks for the cluster."""
    return os.environ.get(CLUSTER_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class LocalCluster:
    """A running local cluster: the ports of its nodes (all primaries)."""

    ports: list[int]
    host: str = HOST

    @property
    def url(self) -> str:
        """The jobq URL of the cluster (any node is a seed; the client finds the rest)."""
        return f"redis+cluster://{self.host}:{self.ports[0]}"

    def node_urls(self) -> list[str]:
        """Plain ``redis://`` URLs of each node (for a per-node client)."""
        return [f"redis://{self.host}:{port}/0" for port in self.ports]

    def cli(self, port: int, *args: str) -> str:
        """Run ``redis-cli`` against one node; its output."""
        return subprocess.run(
            ["redis-cli", "-h", self.host, "-p", str(port), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout


def _cluster_port(taken: set[int]) -> int:
    """A free port whose cluster bus port (+10000) is free too; both must be <= 65535,
    so the ephemeral range (often 32768-60999) will not do."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20_000, 45_000)
        if port in taken or port + 10_000 in taken:
            continue
        try:
            with socket.socket() as low, socket.socket() as bus:
                low.bind((HOST, port))
                bus.bind((HOST, port + 10_000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair (port, port + 10000) for a cluster node")


def _wait_for_node(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
            return
        if process.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited:\n{log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout} s")
        time.sleep(0.02)


def _missing_binaries() -> list[str]:
    return [name for name in ("redis-server", "redis-cli") if shutil.which(name) is None]


@contextmanager
def local_cluster(
    root: Path, *, masters: int = MASTERS, timeout: float = 30.0
) -> Iterator[LocalCluster]:
    """Start a cluster of ``masters`` primaries (no replicas) under ``root``; stop it after."""
    missing = _missing_binaries()
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not on PATH: install Redis >= 7 "
            "(apt-get install redis-server, brew install redis) to run the cluster tests"
        )
    ports: list[int] = []
    for _ in range(masters):
        ports.append(_cluster_port(set(ports)))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            node_dir = root / f"node-{port}"
            node_dir.mkdir(parents=True, exist_ok=True)
            command = [
                "redis-server", "--port", str(port), "--bind", HOST, "--dir", str(node_dir),
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no",
            ]  # fmt: skip
            with (node_dir / "redis.log").open("wb") as log:
                processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        for port, process in zip(ports, processes, strict=True):
            _wait_for_node(process, port, root / f"node-{port}" / "redis.log", timeout)
        cluster = LocalCluster(ports=ports)
        create = [
            "redis-cli", "--cluster", "create", *(f"{HOST}:{port}" for port in ports),
            "--cluster-replicas", "0", "--cluster-yes",
        ]  # fmt: skip
        subprocess.run(create, check=True, capture_output=True, timeout=timeout)
        _wait_until_ok(cluster, timeout)
        yield cluster
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
                process.kill()
                process.wait()


def _wait_until_ok(cluster: LocalCluster, timeout: float) -> None:
    """Every node reports ``cluster_state:ok`` and knows every node."""
    deadline = time.monotonic() + timeout
    for port in cluster.ports:
        while True:
            info = cluster.cli(port, "cluster", "info")
            if "cluster_state:ok" in info and f"cluster_known_nodes:{len(cluster.ports)}" in info:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"node {port} not ready after {timeout} s:\n{info}")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A 3-master Redis Cluster of local processes, for the whole session. Skipped when
    redis-server / redis-cli are missing (an error in CI or when the cluster is asked)."""
    missing = _missing_binaries()
    if missing and not (cluster_requested() or os.environ.get("CI")):
        pytest.skip(f"{', '.join(missing)} not on PATH")
    with local_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


async def flush_cluster(cluster: LocalCluster) -> None:
    """Delete every key on every primary (the functions library stays)."""
    client = connect(cluster.url)
    try:
        await client.flushall()
    finally:
        await client.aclose()


class ClusterOverrides:
    """Fixtures registered over the core ones when ``JOBQ_TEST_REDIS_CLUSTER`` is set."""

    @pytest_asyncio.fixture
    async def core_settings(
        self, core_settings: CoreSettings, redis_cluster: LocalCluster
    ) -> CoreSettings:
        """The core settings, pointing at the cluster (flushed first)."""
        await flush_cluster(redis_cluster)
        return core_settings.model_copy(update={"redis_url": redis_cluster.url})


def pytest_configure(config: pytest.Config) -> None:
    # Registered here, after every entry-point plugin, so these fixtures override theirs.
    if cluster_requested():
        config.pluginmanager.register(ClusterOverrides(), "jobq_cluster_overrides")


def pytest_report_header(config: pytest.Config) -> str | None:
    if cluster_requested():
        return f"jobq: core fixtures on a local {MASTERS}-master Redis Cluster ({CLUSTER_ENV}=1)"
    return None
