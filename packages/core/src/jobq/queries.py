"""Read-side queries: job listings, the worker registry, queue statistics."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from jobq.errors import ValidationFailed
from jobq.matching import can_run
from jobq.models import (
    Job,
    JobPage,
    JobStatus,
    QueueDepth,
    QueueStats,
    Requirements,
    WorkerCapabilities,
    WorkerInfo,
    ms_to_datetime,
)

if TYPE_CHECKING:
    from jobq.broker import Broker

#: At most this many index entries are read per listing call (then a cursor is returned).
SCAN_BUDGET = 2000


async def list_jobs(
    broker: Broker,
    *,
    status: JobStatus | None = None,
    job_type: str | None = None,
    worker_id: str | None = None,
    workflow_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> JobPage:
    """Newest first. Reads one index (the most selective filter) by submission order,
    filters the rest; the cursor is a submission sequence number, so pages stay
    correct while jobs change state."""
    if not 1 <= limit <= 500:
        raise ValidationFailed("validation failed: limit must be 1-500")
    if cursor is not None and not cursor.isdigit():
        raise ValidationFailed("validation failed: cursor must come from next_cursor")
    keys = broker.keys
    if worker_id is not None:
        index = keys.index_worker(worker_id)
    elif workflow_id is not None:
        index = keys.index_workflow(workflow_id)
    elif job_type is not None:
        index = keys.index_type(job_type)
    elif status is not None:
        index = keys.index_status(status)
    else:
        index = keys.index_all()

    def wanted(job: Job) -> bool:
        return (
            (status is None or job.status == status)
            and (job_type is None or job.type == job_type)
            and (worker_id is None or job.worker_id == worker_id)
            and (workflow_id is None or job.workflow_id == workflow_id)
        )

    ascending = workflow_id is not None and worker_id is None  # steps in step order
    jobs: list[Job] = []
    position = cursor
    scanned = 0
    while scanned < SCAN_BUDGET:
        size = min(limit * 2, SCAN_BUDGET - scanned)
        batch = await _index_page(broker, index, position, size, ascending=ascending)
        scanned += len(batch)
        found = await broker.get_jobs([job_id for job_id, _ in batch])
        for (_, score), job in zip(batch, found, strict=True):
            position = str(int(score))
            if job is not None and wanted(job):
                jobs.append(job)
                if len(jobs) == limit:
                    return JobPage(jobs=jobs, next_cursor=position)
        if len(batch) < size:
            return JobPage(jobs=jobs, next_cursor=None)
    next_cursor = position
    return JobPage(jobs=jobs, next_cursor=next_cursor)


async def _index_page(
    broker: Broker, index: str, after: str | None, size: int, *, ascending: bool
) -> list[tuple[str, float]]:
    """Up to ``size`` (member, score) pairs of an index after the score ``after``."""
    if ascending:
        low = f"({after}" if after is not None else "-inf"
        entries: Any = await broker.redis.zrangebyscore(
            index, low, "+inf", start=0, num=size, withscores=True
        )
    else:
        high = f"({after}" if after is not None else "+inf"
        entries = await broker.redis.zrevrangebyscore(
            index, high, "-inf", start=0, num=size, withscores=True
        )
    return [(str(member), float(score)) for member, score in entries]


async def list_workers(broker: Broker) -> list[WorkerInfo]:
    """Registered workers with status, heartbeat age and the jobs they hold."""
    keys = broker.keys
    async with broker.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.workers)
        pipe.zrange(keys.workers_seen, 0, -1, withscores=True)
        registered, seen_list = await pipe.execute()
    server_time = await broker.redis.time()  # not pipelined: a cluster pipeline refuses TIME
    now_ms = int(server_time[0]) * 1000 + int(server_time[1]) // 1000
    seen = {str(worker_id): int(score) for worker_id, score in seen_list}
    ids = sorted(registered)
    async with broker.redis.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.smembers(keys.worker_jobs(worker_id))
        held = await pipe.execute()
    offline_ms = broker.settings.worker_offline_seconds * 1000
    workers = []
    for worker_id, jobs in zip(ids, held, strict=True):
        last = seen.get(worker_id)
        age = None if last is None else max(0.0, (now_ms - last) / 1000)
        workers.append(
            WorkerInfo(
                capabilities=WorkerCapabilities.model_validate_json(registered[worker_id]),
                status="online" if last is not None and now_ms - last < offline_ms else "offline",
                last_seen=ms_to_datetime(last),
                heartbeat_age=age,
                current_jobs=sorted(jobs),
            )
        )
    return workers


async def count_by_status(broker: Broker) -> dict[str, int]:
    """How many live jobs are in each status."""
    async with broker.redis.pipeline(transaction=False) as pipe:
        for status in JobStatus:
            pipe.zcard(broker.keys.index_status(status))
        counts = await pipe.execute()
    return {str(status): int(n) for status, n in zip(JobStatus, counts, strict=True)}


async def queue_stats(broker: Broker) -> QueueStats:
    """Pending depth per shape and per pool; shapes no online worker can run are
    visible as such (``runnable_by`` empty)."""
    keys = broker.keys
    raw: dict[str, str] = await broker.redis.hgetall(keys.shapes)  # type: ignore[assignment]
    shape_ids = sorted(raw)
    async with broker.redis.pipeline(transaction=False) as pipe:
        for shape_id in shape_ids:
            pipe.zcard(keys.queue(shape_id))
        pipe.zcard(keys.delayed)
        depths: list[Any] = await pipe.execute()
    online = [w for w in await list_workers(broker) if w.status == "online"]
    shapes: list[QueueDepth] = []
    pools: dict[str, int] = {}
    for shape_id, depth in zip(shape_ids, depths, strict=False):
        req = Requirements.model_validate(json.loads(raw[shape_id]))
        runnable = [w.capabilities.worker_id for w in online if can_run(w.capabilities, req)]
        shapes.append(
            QueueDepth(
                shape_id=shape_id, requirements=req, pending=int(depth), runnable_by=runnable
            )
        )
        pool = req.pool_preference or "any"
        pools[pool] = pools.get(pool, 0) + int(depth)
    return QueueStats(
        shapes=shapes,
        pools=pools,
        delayed=int(depths[-1]),
        by_status=await count_by_status(broker),
    )
