"""Stopping background tasks reliably.

redis-py 8 can swallow a cancellation that lands while a command is being sent, and
the task then carries on with its next command; :func:`cancel_and_wait` therefore
cancels again until the tasks are done (loops also check a stop flag).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

log = logging.getLogger("jobq_api")


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[object]], *, timeout: float = 10.0, every: float = 0.2
) -> None:
    """Cancel ``tasks`` (again every ``every`` seconds) until all are done or ``timeout``
    passed; exceptions other than cancellation are logged."""
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=every)
    if pending:
        log.error("tasks still running after %s s: %s", timeout, [t.get_name() for t in pending])
    for task in tasks:
        if task.done() and not task.cancelled():
            with contextlib.suppress(asyncio.CancelledError):
                error = task.exception()
                if error is not None and not _is_disconnect(error):
                    log.error("task %s failed", task.get_name(), exc_info=error)


def _is_disconnect(error: BaseException) -> bool:
    return type(error).__name__ in {"WebSocketDisconnect", "ConnectionClosed", "ClientDisconnected"}
