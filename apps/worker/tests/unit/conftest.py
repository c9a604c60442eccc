"""Helpers for the worker's unit tests: a JobContext without a broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from jobq.models import ClaimedJob, JobStatus
from jobq_worker.context import JobContext

Progress = list[tuple[str, int, int, str | None]]


def claimed(**fields: Any) -> ClaimedJob:
    """A claimed job record as a worker receives it."""
    base: dict[str, Any] = {
        "id": "job-1",
        "type": "simulation",
        "status": JobStatus.ASSIGNED,
        "priority": 50,
        "created_at": datetime.now(UTC),
        "token": 7,
    }
    return ClaimedJob.model_validate({**base, **fields})


@pytest.fixture
def make_job() -> Callable[..., ClaimedJob]:
    """``make_job(type="upscale", ...)``: a claimed job."""
    return claimed


@pytest.fixture
def progress_log() -> Progress:
    return []


@pytest.fixture
def make_ctx(progress_log: Progress) -> Callable[..., JobContext]:
    """``make_ctx(parameters={...})``: a context on the running loop that records progress."""

    async def no_parents(job: ClaimedJob) -> dict[str, Any]:
        return {"parent": {"ok": True}}

    def factory(**fields: Any) -> JobContext:
        return JobContext(
            claimed(**fields),
            worker_id="w1",
            loop=asyncio.get_running_loop(),
            progress_sink=lambda *report: progress_log.append(report),
            parent_results=no_parents,
        )

    return factory
