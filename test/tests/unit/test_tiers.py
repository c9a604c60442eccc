"""The plugin's pure parts: tier detection and the network guard."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import pytest_socket

from jobq_testing.plugin import tier_of


@pytest.mark.parametrize(
    ("path", "tier"),
    [
        ("packages/core/tests/unit/test_x.py", "unit"),
        ("apps/api/tests/integration/test_y.py", "integration"),
        ("test/e2e/test_journey.py", "e2e"),
        ("test/bench/test_bench_seed.py", "bench"),
        ("docs/conftest.py", None),
    ],
)
def test_tier_comes_from_the_directory(path: str, tier: str | None) -> None:
    assert tier_of(Path(path)) == tier


def test_this_unit_test_carries_the_unit_marker(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None


def test_unit_tests_cannot_open_tcp_sockets() -> None:
    with pytest.raises(pytest_socket.SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_unix_sockets_stay_allowed_for_the_event_loop() -> None:
    left, right = socket.socketpair()
    left.close()
    right.close()
