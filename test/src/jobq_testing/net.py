"""Small network helpers for tests: free ports and waiting for a listener."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from contextlib import suppress

LOCALHOST = "127.0.0.1"


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it; a race is still possible,
    so servers started on it should be retried when they fail to bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    host: str = LOCALHOST,
    *,
    timeout: float = 10.0,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Block until something accepts connections on ``host:port``.

    ``alive`` is polled too: when it returns False (the server process died) waiting stops
    with a :class:`RuntimeError` instead of running into the timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        with suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        if alive is not None and not alive():
            raise RuntimeError(f"the server meant to listen on {host}:{port} exited")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")
        time.sleep(0.02)
