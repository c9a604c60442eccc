"""The jobq pytest plugin: tiers, guards and the shared Redis fixtures.

Loaded by every member's tests through the ``pytest11`` entry point of jobq-testing.

- Markers ``unit``, ``integration``, ``e2e`` and ``bench`` are registered here and set
  from the directory a test lives in (``tests/unit/`` -> ``unit`` ...).
- Unit tests cannot open network connections (pytest-socket; Unix sockets stay allowed
  for the event loop's self-pipe); a test that tries fails with a message saying so.
- ``redis_provider`` (session): the session's Redis, see :mod:`jobq_testing.providers`.
- ``redis_url`` / ``redis``: a database flushed before each test, so no test sees
  another's keys, under xdist too (one server or one database per worker).
- ``namespace``: a jobq namespace unique to the test.
- ``redis_server_factory``: extra, separate ``redis-server`` processes (restarts, AOF).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import pytest_socket
from redis.asyncio import Redis

from jobq_testing import providers
from jobq_testing.servers import INSTALL_HINT, RedisServer, redis_server_binary

TIERS = {
    "unit": "pure logic; no network (enforced)",
    "integration": "talks to a real Redis the tests started",
    "e2e": "real jobq processes (api, workers, monitor) on a real Redis",
    "bench": "benchmarks, run by `nox -s bench` only",
}
_KIND_KEY = pytest.StashKey[providers.ProviderKind]()
NETWORK_HINT = (
    "jobq: unit tests may not open network connections. Move this test under "
    "tests/integration/ (it gets a real Redis there) or keep it pure."
)


def pytest_configure(config: pytest.Config) -> None:
    for name, doc in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    # Loud, but not an error under `filterwarnings = error`: the summary lists it.
    config.addinivalue_line("filterwarnings", "always::jobq_testing.providers.EmbeddedRedisWarning")
    config.stash[_KIND_KEY] = providers.choose_kind()


def pytest_report_header(config: pytest.Config) -> list[str]:
    kind = config.stash[_KIND_KEY]
    return [f"jobq: Redis provider: {providers.describe(kind)}"]


def tier_of(path: Path) -> str | None:
    """The tier a test file belongs to, from its directory."""
    parts = set(path.parts)
    for tier in ("unit", "integration", "e2e", "bench"):
        if tier in parts:
            return tier
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier; leave benchmarks out unless ``-m`` names them."""
    with_bench = "bench" in (config.option.markexpr or "")
    kept: list[pytest.Item] = []
    skipped: list[pytest.Item] = []
    for item in items:
        tier = tier_of(Path(str(item.path)))
        if tier is not None and item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))
        is_bench = item.get_closest_marker("bench") is not None
        (skipped if is_bench and not with_bench else kept).append(item)
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = kept


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("unit") is not None:
        pytest_socket.disable_socket(allow_unix_socket=True)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    pytest_socket.enable_socket()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: Any = yield
    if call.excinfo is not None and call.excinfo.errisinstance(pytest_socket.SocketBlockedError):
        report.sections.append(("jobq network guard", NETWORK_HINT))
        report.longrepr = f"{report.longrepr}\n\n{NETWORK_HINT}"
    return report  # type: ignore[no-any-return]


def _worker_index(config: pytest.Config) -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw") or 0)


@pytest.fixture(scope="session")
def redis_provider(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[providers.RedisProvider]:
    """The session's Redis (per xdist worker): see :mod:`jobq_testing.providers`."""
    kind = request.config.stash[_KIND_KEY]
    try:
        provider = providers.start_provider(
            kind, tmp_path_factory.mktemp("redis"), _worker_index(request.config)
        )
    except providers.RealRedisRequired as exc:
        pytest.fail(str(exc), pytrace=False)
    yield provider
    provider.close()


@pytest_asyncio.fixture
async def redis_url(redis_provider: providers.RedisProvider) -> str:
    """URL of a database that holds nothing but this test's keys (flushed before it)."""
    client = Redis.from_url(redis_provider.url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return redis_provider.url


@pytest_asyncio.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """An asyncio client (decoded responses) on the test's database."""
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def namespace() -> str:
    """A jobq namespace unique to this test."""
    return f"t{uuid.uuid4().hex[:12]}"


RedisServerFactory = Callable[..., RedisServer]


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[RedisServerFactory]:
    """Start extra ``redis-server`` processes: ``redis_server_factory(appendonly=True)``.

    Each gets its own port and directory; all are stopped after the test. Skipped when
    no ``redis-server`` is on PATH (an error in CI)."""
    if redis_server_binary() is None:
        if providers.real_redis_required():
            pytest.fail(f"redis-server is not on PATH: {INSTALL_HINT}", pytrace=False)
        pytest.skip("redis-server is not on PATH")
    started: list[RedisServer] = []

    def factory(*, appendonly: bool = False, extra_args: tuple[str, ...] = ()) -> RedisServer:
        server = RedisServer(
            tmp_path / f"redis-{len(started)}", appendonly=appendonly, extra_args=extra_args
        )
        started.append(server)
        return server.start()

    yield factory
    for server in started:
        server.stop()
