"""JobContext: progress that never blocks (from any thread), the cancellation flag."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from jobq_worker.context import JobContext
from jobq_worker.errors import JobCancelled

MakeCtx = Callable[..., JobContext]


async def test_the_context_exposes_the_job(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(prompt="a fox", parameters={"steps": 3}, retry_count=2)
    assert (ctx.id, ctx.type, ctx.prompt, ctx.parameters) == (
        "job-1", "simulation", "a fox", {"steps": 3},
    )  # fmt: skip
    assert ctx.attempt == 3
    assert await ctx.parent_results() == {"parent": {"ok": True}}
    assert ctx.log.extra == {"job_id": "job-1", "job_type": "simulation", "worker_id": "w1"}


async def test_progress_goes_to_the_sink_as_an_integer(
    make_ctx: MakeCtx, progress_log: list[Any]
) -> None:
    ctx = make_ctx()
    ctx.progress(12.7, "warming up")
    ctx.progress(100)
    assert progress_log == [("job-1", 7, 12, "warming up"), ("job-1", 7, 100, None)]


@pytest.mark.parametrize("bad", [-1, 100.5, float("nan"), "50", None])
async def test_progress_outside_0_to_100_is_refused(make_ctx: MakeCtx, bad: Any) -> None:
    with pytest.raises(ValueError, match="progress must be"):
        make_ctx().progress(bad)


async def test_progress_from_a_handler_thread_reaches_the_loop(
    make_ctx: MakeCtx, progress_log: list[Any]
) -> None:
    ctx = make_ctx()
    thread = threading.Thread(target=ctx.progress, args=(40, "from a thread"))
    thread.start()
    thread.join()
    assert progress_log == []  # handed to the loop, not run on the thread
    await asyncio.sleep(0)
    assert progress_log == [("job-1", 7, 40, "from a thread")]


async def test_a_stop_sets_the_flag_and_keeps_the_first_reason(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    assert not ctx.cancelled
    ctx.raise_if_cancelled()
    ctx._stop("cancelled")
    ctx._stop("shutdown")
    assert ctx.cancelled
    assert ctx.stop_reason == "cancelled"
    with pytest.raises(JobCancelled, match="job-1: cancelled"):
        ctx.raise_if_cancelled()
