"""The shared harness, run from the outside with pytester: providers, isolation under
xdist, the network guard's message, the embedded fallback and its CI error."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from jobq_testing.plugin import NETWORK_HINT, RedisServerFactory

ISOLATION_TEST = """
import asyncio
import pytest

@pytest.mark.parametrize("n", range(24))
async def test_sees_only_its_own_keys(redis, namespace, n):
    for i in range(40):
        await redis.set(f"jobq:{{{namespace}}}:k{i}", n)
    await asyncio.sleep(0.01)
    keys = await redis.keys("*")
    assert len(keys) == 40
    assert all(key.startswith(f"jobq:{{{namespace}}}:") for key in keys)
"""


INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
    ignore:A test tried to use socket:UserWarning
"""


@pytest.fixture(autouse=True)
def _inner_ini(pytester: pytest.Pytester) -> None:
    """The inner runs use the project's asyncio and warning settings."""
    pytester.makefile(".ini", pytest=INI)


def _python_only_path(tmp_path: Path) -> str:
    """A PATH with nothing on it but this Python (no redis-server, no docker)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    return str(bin_dir)


def test_no_test_sees_another_tests_keys_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{"tests/integration/test_iso.py": ISOLATION_TEST})
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=24)


def test_isolation_holds_on_a_caller_owned_server(
    pytester: pytest.Pytester,
    redis_server_factory: RedisServerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = redis_server_factory()
    monkeypatch.setenv("JOBQ_TEST_REDIS_URL", server.url)
    pytester.makepyfile(**{"tests/integration/test_iso.py": ISOLATION_TEST})
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=24)
    result.stdout.fnmatch_lines(["*jobq: Redis provider: JOBQ_TEST_REDIS_URL=*caller-owned*"])


def test_header_names_the_redis_server_provider(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{"tests/unit/test_nothing.py": "def test_ok():\n    pass\n"})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*jobq: Redis provider: *redis-server * on a free port*"])
    result.assert_outcomes(passed=1)


def test_network_in_a_unit_test_fails_with_a_clear_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        **{
            "tests/unit/test_net.py": (
                "import socket\n"
                "def test_connects():\n"
                "    socket.create_connection(('127.0.0.1', 9))\n"
            ),
            "tests/integration/test_net_ok.py": (
                "import socket\n"
                "def test_may_open_sockets():\n"
                "    socket.socket(socket.AF_INET).close()\n"
            ),
        }
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    assert NETWORK_HINT in result.stdout.str()


def test_redis_server_factory_persists_across_restarts_with_aof(
    redis_server_factory: RedisServerFactory,
) -> None:
    from redis import Redis  # noqa: TID251 - a synchronous check is simplest here

    server = redis_server_factory(appendonly=True)
    with Redis.from_url(server.url) as client:
        client.set("survives", "yes")
        client.execute_command("BGREWRITEAOF")
    server.restart()
    with Redis.from_url(server.url) as client:
        assert client.get("survives") == b"yes"
    server.kill()
    assert not server.alive()


EMBEDDED_TEST = """
from jobq.broker import Broker
from jobq.models import WorkerCapabilities
from jobq.settings import CoreSettings

async def test_core_runs_on_embedded(redis_url, namespace):
    settings = CoreSettings(redis_url=redis_url, namespace=namespace)
    broker = Broker.from_url(redis_url, settings=settings)
    await broker.connect()
    try:
        submitted = await broker.submit({"type": "simulation", "parameters": {"steps": 1}})
        worker = WorkerCapabilities(worker_id="w", capabilities=["simulation"])
        batch = await broker.claim(worker, max_jobs=1)
        assert [job.id for job in batch.jobs] == [submitted.job_id]
    finally:
        await broker.close()
"""


def test_falls_back_to_embedded_server_loudly(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _python_only_path(tmp_path))
    for name in ("CI", "JOBQ_TEST_REQUIRE_REAL_REDIS", "JOBQ_TEST_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    pytester.makepyfile(**{"tests/integration/test_embedded.py": EMBEDDED_TEST})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*jobq: Redis provider: EMBEDDED fakeredis server*"])
    result.stdout.fnmatch_lines(["*EmbeddedRedisWarning*not a real Redis*"])
    result.assert_outcomes(passed=1, warnings=1)


def test_embedded_fallback_is_an_error_in_ci(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", _python_only_path(tmp_path))
    monkeypatch.delenv("JOBQ_TEST_REDIS_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    pytester.makepyfile(**{"tests/integration/test_embedded.py": EMBEDDED_TEST})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no real Redis for the tests*apt-get install redis-server*"])


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_redis_server_binary_is_real_here() -> None:
    assert os.access(shutil.which("redis-server") or "", os.X_OK)
