"""What the dashboard shows, read from the broker's state (never rebuilt from events).

Each function returns one page's data; the HTML pages, the JSON API and the live
refreshes all use these, so what a page shows after a reconnect is the current state.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from jobq import codec
from jobq.broker import Broker
from jobq.errors import MalformedJob
from jobq.models import Event, Job, QueueStats, WorkerInfo, Workflow, WorkflowState
from jobq_monitor.dag import Layout, layout

#: At most this many stream entries are read to build one job's timeline.
TIMELINE_SCAN_BUDGET = 20_000
#: At most this many workflow records are read to list workflows.
WORKFLOW_SCAN_BUDGET = 50_000


@dataclass(frozen=True)
class WorkerRow:
    """A registered worker and the jobs it holds now."""

    info: WorkerInfo
    jobs: list[Job]

    @property
    def worker_id(self) -> str:
        """The worker's id."""
        return self.info.capabilities.worker_id


@dataclass(frozen=True)
class Overview:
    """The counts in the page header."""

    by_status: dict[str, int]
    workers_online: int
    workers_offline: int


@dataclass(frozen=True)
class QueueView:
    """Queue depths, with how many pending jobs no online worker can run."""

    stats: QueueStats
    workers_online: int

    @property
    def stranded(self) -> int:
        """Pending jobs whose requirements no online worker meets."""
        return sum(shape.pending for shape in self.stats.shapes if not shape.runnable_by)


@dataclass(frozen=True)
class JobView:
    """A job with its event timeline (``truncated`` when the stream was too long to read)."""

    job: Job
    timeline: list[Event]
    truncated: bool


@dataclass(frozen=True)
class WorkflowView:
    """A workflow with its steps and the layout of its graph."""

    state: WorkflowState
    layout: Layout


async def fleet(broker: Broker) -> list[WorkerRow]:
    """Every registered worker (online first) with the jobs it holds."""
    workers = await broker.list_workers()
    held = sorted({job_id for w in workers for job_id in w.current_jobs})
    found = {job.id: job for job in await broker.get_jobs(held) if job is not None}
    rows = [
        WorkerRow(info=w, jobs=[found[j] for j in w.current_jobs if j in found]) for w in workers
    ]
    rows.sort(key=lambda row: (row.info.status != "online", row.worker_id))
    return rows


async def overview(broker: Broker) -> Overview:
    """Job counts per status and workers online/offline."""
    workers = await broker.list_workers()
    online = sum(1 for w in workers if w.status == "online")
    return Overview(
        by_status=await broker.count_by_status(),
        workers_online=online,
        workers_offline=len(workers) - online,
    )


async def queues(broker: Broker) -> QueueView:
    """Queue statistics, busiest shape first."""
    stats = await broker.queue_stats()
    stats.shapes.sort(key=lambda shape: (-shape.pending, shape.shape_id))
    online = sum(1 for w in await broker.list_workers() if w.status == "online")
    return QueueView(stats=stats, workers_online=online)


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


async def job_view(broker: Broker, job_id: str) -> JobView:
    """A job and its events. The stream is read from the job's creation time (stream ids
    are timestamps) up to just after it finished, within :data:`TIMELINE_SCAN_BUDGET`."""
    job = await broker.get_job(job_id)
    start = f"{_ms(job.created_at)}-0"
    end = "+"
    if job.is_terminal and job.completed_at is not None:
        end = str(_ms(job.completed_at) + 1000)
    timeline: list[Event] = []
    scanned = 0
    truncated = False
    while True:
        entries: Any = await broker.redis.xrange(broker.keys.events, start, end, count=1000)
        scanned += len(entries)
        for entry_id, fields in entries:
            if fields.get("job_id") == job_id:
                timeline.append(codec.event_from_entry(entry_id, fields))
        if len(entries) < 1000:
            break
        if scanned >= TIMELINE_SCAN_BUDGET:
            truncated = True
            break
        start = "(" + str(entries[-1][0])
    return JobView(job=job, timeline=timeline, truncated=truncated)


async def recent_events(broker: Broker, limit: int = 50) -> list[Event]:
    """The newest ``limit`` events, newest first."""
    entries: Any = await broker.redis.xrevrange(broker.keys.events, count=limit)
    return [codec.event_from_entry(entry_id, fields) for entry_id, fields in entries]


async def workflows(broker: Broker, *, limit: int = 100) -> list[Workflow]:
    """The newest ``limit`` workflows.

    The core keeps no index of workflows, so their hashes are found with SCAN (at most
    :data:`WORKFLOW_SCAN_BUDGET` are read); fine for a dashboard page, not a hot path.
    """
    names: list[str] = []
    scan: Any = broker.redis.scan_iter(
        match=broker.keys.workflow_prefix + "*", count=1000, _type="HASH"
    )
    async with contextlib.aclosing(scan) as found_names:
        async for name in found_names:
            names.append(str(name))
            if len(names) >= WORKFLOW_SCAN_BUDGET:
                break
    async with broker.redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(name)
        records: list[dict[str, str]] = await pipe.execute()
    found: list[Workflow] = []
    for record in records:
        try:
            found.append(codec.workflow_from_hash(record))
        except (KeyError, ValueError, MalformedJob):
            continue  # purged since the SCAN, or not a record we can read: leave it out
    found.sort(key=lambda wf: (wf.created_at, wf.id), reverse=True)
    return found[:limit]


async def workflow_view(broker: Broker, workflow_id: str) -> WorkflowView:
    """A workflow, its steps and the layout of its graph."""
    state = await broker.get_workflow(workflow_id)
    state.steps.sort(key=lambda step: step.index)
    graph = layout({step.index: step.depends_on for step in state.steps})
    return WorkflowView(state=state, layout=graph)
