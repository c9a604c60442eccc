"""Completions, batched: every job that finishes while a batch is on its way joins the
next one, so an idle worker completes a job in one round trip and a busy one completes
hundreds per round trip (``Broker.complete_many``, pipelined)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from jobq.broker import Broker
from jobq.errors import JobqError
from jobq_worker.transient import TRANSIENT_ERRORS, Backoff

log = logging.getLogger("jobq_worker.completions")


@dataclass
class _Item:
    job_id: str
    token: int
    result: dict[str, Any]
    done: asyncio.Future[bool] = field(repr=False)


class Completer:
    """Sends completions in batches; :meth:`complete` says whether it was recorded."""

    def __init__(self, broker: Broker, *, max_batch: int = 500, retry_for: float = 60.0) -> None:
        self.broker = broker
        self.max_batch = max_batch
        self.retry_for = retry_for
        self._queue: list[_Item] = []
        self._task: asyncio.Task[None] | None = None

    async def complete(self, job_id: str, token: int, result: dict[str, Any]) -> bool:
        """Complete a job. True when it is recorded; False when the lease was lost
        (cancelled, expired, claimed again) or Redis stayed unreachable too long."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(job_id, token, result, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        return await asyncio.shield(done)

    async def wait_idle(self) -> None:
        """Wait until every queued completion was sent."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _flush(self) -> None:
        while self._queue:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            outcomes = await self._send(batch)
            for item, outcome in zip(batch, outcomes, strict=True):
                if not item.done.done():
                    item.done.set_result(outcome)

    async def _send(self, batch: list[_Item]) -> list[bool]:
        try:
            replies = await self.broker.complete_many(
                [(item.job_id, item.token, item.result) for item in batch]
            )
        except TRANSIENT_ERRORS as exc:
            # Some calls of the pipeline may have run: finish one by one, idempotently.
            log.warning("completions interrupted: retrying", extra={"error": str(exc)})
            return [await self._complete_one(item) for item in batch]
        except Exception:
            # Never leave a job waiting for its completion: unrecorded, its lease expires
            # (it is no longer heartbeated) and it runs again.
            log.exception("completions failed", extra={"jobs": len(batch)})
            return [False] * len(batch)
        outcomes: list[bool] = []
        for item, reply in zip(batch, replies, strict=True):
            if isinstance(reply, JobqError):
                log.info(
                    "completion refused",
                    extra={"job_id": item.job_id, "code": reply.code, "reason": reply.message},
                )
                outcomes.append(False)
            else:
                outcomes.append(bool(reply))
        return outcomes

    async def _complete_one(self, item: _Item) -> bool:
        deadline = time.monotonic() + self.retry_for
        backoff = Backoff()
        while True:
            try:
                await self.broker.complete(
                    item.job_id, item.result, token=item.token, idempotent=True
                )
                return True  # recorded now, or by the interrupted pipeline ("ALREADY")
            except JobqError as exc:
                log.info(
                    "completion refused",
                    extra={"job_id": item.job_id, "code": exc.code, "reason": exc.message},
                )
                return False
            except TRANSIENT_ERRORS as exc:
                if time.monotonic() > deadline:
                    log.error(
                        "completion given up: Redis unreachable (the lease will expire and "
                        "the job run again)",
                        extra={"job_id": item.job_id, "error": str(exc)},
                    )
                    return False
                await asyncio.sleep(backoff.next())
