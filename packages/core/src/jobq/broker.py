"""The broker: every jobq operation on one namespace, as atomic Redis Function calls.

:class:`Broker` is what the API, the worker runtime, the monitor and the SDK use.
Writes go through the Lua functions (one call per state transition); reads use
plain commands on the keys named in :mod:`jobq.keys`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from jobq import codec, events, queries, workflows
from jobq.catalog import Catalog
from jobq.connection import RedisClient, connect
from jobq.errors import (
    JobNotFound,
    JobqError,
    MalformedJob,
    StaleShapes,
    ValidationFailed,
    from_response_error,
)
from jobq.functions import ensure_library, is_missing_function
from jobq.keys import Keys
from jobq.matching import Shape
from jobq.models import (
    ClaimedJob,
    Event,
    Job,
    JobPage,
    JobSpec,
    JobStatus,
    QueueStats,
    SubmitResult,
    WorkerCapabilities,
    WorkerInfo,
    WorkflowCreated,
    WorkflowSpec,
    WorkflowState,
)
from jobq.settings import CoreSettings
from jobq.shapes import ShapeCache

#: Jobs per jobq_submit call in submit_many (calls are pipelined in one round trip).
SUBMIT_CHUNK = 500
#: Results larger than this are not copied into the job_completed event.
EVENT_RESULT_LIMIT = 64 * 1024
#: Results larger than this are refused.
MAX_RESULT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ClaimBatch:
    """Jobs claimed in one call. When empty, ``resume_from`` is the event id to block on."""

    jobs: list[ClaimedJob]
    resume_from: str | None = None


@dataclass(frozen=True)
class TickResult:
    """What one housekeeping pass did."""

    reaped: int
    promoted: int
    purged: int
    went_offline: int


class Broker:
    """jobq on one Redis namespace. Create with :meth:`from_url` or from a client.

    The client (a ``Redis`` or a ``RedisCluster``) must decode responses
    (``decode_responses=True``).
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        namespace: str | None = None,
        settings: CoreSettings | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        if not redis.get_encoder().decode_responses:
            raise ValueError("jobq needs a Redis client created with decode_responses=True")
        self.settings = settings or CoreSettings()
        self.redis = redis
        self.keys = Keys(namespace or self.settings.namespace)
        self.catalog = catalog or Catalog.load(self.settings.catalog)
        self._function_keys = self.keys.function_keys()
        self._shapes = ShapeCache(self.keys)
        self._library_ready = False

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        *,
        namespace: str | None = None,
        settings: CoreSettings | None = None,
        catalog: Catalog | None = None,
    ) -> Self:
        """A broker with its own connection pool to ``url`` (default: ``JOBQ_REDIS_URL``;
        ``redis+cluster://`` or ``JOBQ_REDIS_CLUSTER=true`` for a Redis Cluster)."""
        settings = settings or CoreSettings()
        redis = connect(url or settings.redis_url, cluster=settings.redis_cluster)
        return cls(redis, namespace=namespace, settings=settings, catalog=catalog)

    async def close(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Make sure the function library is loaded (done lazily by every call too)."""
        await ensure_library(self.redis)
        self._library_ready = True

    # ------------------------------------------------------------------ plumbing
    @property
    def _lease_ms(self) -> int:
        return round(self.settings.lease_seconds * 1000)

    @property
    def _retention_ms(self) -> int:
        return round(self.settings.retention_seconds * 1000)

    @property
    def _maxlen(self) -> int:
        return self.settings.events_maxlen

    async def _fcall(self, name: str, *args: Any) -> Any:
        if not self._library_ready:
            await self.connect()
        keys = self._function_keys
        try:
            return await self.redis.fcall(name, len(keys), *keys, *args)
        except ResponseError as exc:
            if not is_missing_function(exc):
                raise from_response_error(exc) from None
        # The server lost the library (restarted without persistence): load and retry once.
        await ensure_library(self.redis, force=True)
        try:
            return await self.redis.fcall(name, len(keys), *keys, *args)
        except ResponseError as exc:
            raise from_response_error(exc) from None

    # ------------------------------------------------------------------ submit
    def _check(self, spec: JobSpec | Mapping[str, Any]) -> tuple[JobSpec, Shape]:
        return self.catalog.prepare(spec)

    @staticmethod
    def _encode(spec: JobSpec, shape: Shape) -> list[str | int]:
        delay_ms = 0
        if spec.delay:
            delay_ms = round(spec.delay * 1000)
        elif spec.run_at is not None:
            delay_ms = max(0, round((spec.run_at.timestamp() - time.time()) * 1000))
        return codec.submit_fields(new_id(), spec, shape, delay_ms=delay_ms)

    async def submit(self, spec: JobSpec | Mapping[str, Any]) -> SubmitResult:
        """Validate and submit one job. Raises :class:`ValidationFailed` on bad input."""
        return (await self.submit_many([spec]))[0]

    async def submit_many(self, specs: Iterable[JobSpec | Mapping[str, Any]]) -> list[SubmitResult]:
        """Validate every job, then submit them all in one pipelined round trip.

        Nothing is written when any job is invalid. Jobs keep their order (exact FIFO).
        """
        checked = [self._check(spec) for spec in specs]
        if not checked:
            return []
        if not self._library_ready:
            await self.connect()
        chunks = [checked[i : i + SUBMIT_CHUNK] for i in range(0, len(checked), SUBMIT_CHUNK)]
        replies = await self._submit_chunks(chunks)
        if any(isinstance(r, ResponseError) and is_missing_function(r) for r in replies):
            await ensure_library(self.redis, force=True)  # lost by the server: nothing ran
            replies = await self._submit_chunks(chunks)
        results: list[SubmitResult] = []
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise from_response_error(reply)
            results.extend(
                SubmitResult(job_id=reply[i], duplicate=int(reply[i + 1]) == 0)
                for i in range(0, len(reply), 2)
            )
        assert len(results) == len(checked)
        return results

    async def _submit_chunks(self, chunks: list[list[tuple[JobSpec, Shape]]]) -> list[Any]:
        """Send one jobq_submit per chunk on one connection, encoding the next chunk while
        Redis runs the previous one; then read every reply (errors returned, not raised).
        A cluster client has no single connection to stream on: it pipelines the calls."""
        keys = self._function_keys
        if isinstance(self.redis, RedisCluster):
            async with self.redis.pipeline(transaction=False) as pipe:
                for chunk in chunks:
                    pipe.fcall("jobq_submit", len(keys), *keys, *self._submit_argv(chunk))
                return await pipe.execute(raise_on_error=False)
        pool = self.redis.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            for chunk in chunks:
                argv = self._submit_argv(chunk)
                await conn.send_command("FCALL", "jobq_submit", len(keys), *keys, *argv)
            replies: list[Any] = []
            for _ in chunks:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:
                    replies.append(exc)
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)
        return replies

    def _submit_argv(self, chunk: list[tuple[JobSpec, Shape]]) -> list[str | int]:
        argv: list[str | int] = [self._maxlen, self._retention_ms, len(chunk)]
        for spec, shape in chunk:
            argv.extend(self._encode(spec, shape))
        return argv

    # ------------------------------------------------------------------ claim & leases
    async def claim(
        self, worker: WorkerCapabilities, *, max_jobs: int = 1, lease: float | None = None
    ) -> ClaimBatch:
        """Atomically claim up to ``max_jobs`` jobs this worker can run (best first)."""
        if max_jobs < 1:
            raise ValidationFailed("validation failed: max_jobs must be >= 1")
        lease_ms = round(lease * 1000) if lease else self._lease_ms
        worker_json = worker.model_dump_json()
        for _ in range(5):
            version, shape_ids = await self._shapes.servable(self.redis, worker)
            try:
                reply = await self._fcall(
                    "jobq_claim", worker_json, version, max_jobs, lease_ms,
                    self._maxlen, self._retention_ms, *shape_ids,
                )  # fmt: skip
            except StaleShapes:
                await self._shapes.refresh(self.redis)
                continue
            if reply[0] == "EMPTY":
                return ClaimBatch(jobs=[], resume_from=str(reply[1]))
            decoded = [await self._decode_claimed(record) for record in reply[1:]]
            return ClaimBatch(jobs=[job for job in decoded if job is not None])
        raise StaleShapes("the shape registry kept changing during the claim")  # pragma: no cover

    async def _decode_claimed(self, flat: list[Any]) -> ClaimedJob | None:
        """Decode a claimed record; one that cannot be decoded fails (for good) on its own
        instead of breaking the batch it came in."""
        record = codec.pairs_to_dict(flat)
        try:
            return codec.claimed_from_hash(record)
        except MalformedJob as exc:
            await self.fail(record["id"], exc.message, token=int(record["token"]), retryable=False)
            return None

    async def heartbeat(
        self, worker_id: str, held: Mapping[str, int], *, lease: float | None = None
    ) -> dict[str, str]:
        """Renew the leases of every job the worker holds.

        Returns ``{job_id: reason}`` for held jobs the worker must stop: ``cancelled``,
        ``timeout`` or ``lease_lost``.
        """
        lease_ms = round(lease * 1000) if lease else self._lease_ms
        pairs: list[str | int] = []
        for job_id, token in held.items():
            pairs.extend((job_id, token))
        reply = await self._fcall(
            "jobq_heartbeat", worker_id, lease_ms, self._maxlen, self._retention_ms, *pairs
        )
        return codec.pairs_to_dict(reply)

    async def progress(
        self, job_id: str, progress: int, *, token: int | None = None, message: str | None = None
    ) -> JobStatus:
        """Report progress (0-100); the first report moves the job to ``running``."""
        status = await self._fcall(
            "jobq_progress", job_id, _token(token), int(progress), message or "", self._maxlen
        )
        return JobStatus(status)

    async def start(self, job_id: str, *, token: int | None = None) -> JobStatus:
        """Mark a claimed job as running (progress 0)."""
        return await self.progress(job_id, 0, token=token)

    async def complete(
        self,
        job_id: str,
        result: Mapping[str, Any] | None = None,
        *,
        token: int | None = None,
        idempotent: bool = False,
    ) -> bool:
        """Complete a job with its result (a JSON object). False if it was already completed
        and ``idempotent`` is set."""
        text = codec.dumps(dict(result or {}))
        if len(text) > MAX_RESULT_BYTES:
            raise ValidationFailed(
                f"validation failed: result is {len(text)} bytes; the limit is {MAX_RESULT_BYTES}"
            )
        reply = await self._fcall(
            "jobq_complete", job_id, _token(token), text, self._maxlen, self._retention_ms,
            "1" if idempotent else "0", EVENT_RESULT_LIMIT,
        )  # fmt: skip
        return bool(reply == "OK")

    async def complete_many(
        self, items: Sequence[tuple[str, int, Mapping[str, Any]]]
    ) -> list[bool | JobqError]:
        """Complete several claimed jobs (``(job_id, token, result)``) in one round trip.

        Returns, per job, True or the error that refused it (e.g. :class:`LeaseLost`).
        """
        keys = self._function_keys
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id, token, result in items:
                pipe.fcall(
                    "jobq_complete", len(keys), *keys, job_id, str(token),
                    codec.dumps(dict(result)), self._maxlen, self._retention_ms, "0",
                    EVENT_RESULT_LIMIT,
                )  # fmt: skip
            replies = await pipe.execute(raise_on_error=False)
        outcomes: list[bool | JobqError] = []
        for reply in replies:
            if isinstance(reply, ResponseError):
                error = from_response_error(reply)
                if not isinstance(error, JobqError):
                    raise error
                outcomes.append(error)
            else:
                outcomes.append(reply == "OK")
        return outcomes

    async def fail(
        self, job_id: str, error: str, *, token: int | None = None, retryable: bool = True
    ) -> bool:
        """Report a failed attempt. True if the job will be retried."""
        reply = await self._fcall(
            "jobq_fail", job_id, _token(token), error[:10_000], "1" if retryable else "0",
            self._maxlen, self._retention_ms,
        )  # fmt: skip
        return bool(reply == "RETRY")

    async def release(self, job_id: str, *, token: int | None = None, reason: str = "") -> None:
        """Hand a claimed job back to pending without using up a retry."""
        await self._fcall("jobq_release", job_id, _token(token), reason, self._maxlen)

    async def cancel(self, job_id: str, *, reason: str = "cancelled by request") -> JobStatus:
        """Cancel a job; returns the status it had. Running jobs are stopped by their worker."""
        before = await self._fcall("jobq_cancel", job_id, reason, self._maxlen, self._retention_ms)
        return JobStatus(before)

    async def retry(self, job_id: str) -> JobStatus:
        """Retry a failed or cancelled job now, with a fresh retry budget."""
        return JobStatus(await self._fcall("jobq_retry", job_id, self._maxlen))

    async def tick(self, *, limit: int = 1000) -> TickResult:
        """Housekeeping: reclaim expired leases, promote due jobs, purge expired records."""
        offline_ms = round(self.settings.worker_offline_seconds * 1000)
        reply = await self._fcall("jobq_tick", self._maxlen, self._retention_ms, offline_ms, limit)
        return TickResult(*(int(n) for n in reply))

    # ------------------------------------------------------------------ workers
    async def register_worker(self, worker: WorkerCapabilities) -> None:
        """Announce a worker and its capabilities (emits ``worker_connected``)."""
        await self._fcall(
            "jobq_register_worker", worker.worker_id, worker.model_dump_json(), self._maxlen
        )

    async def deregister_worker(self, worker_id: str, *, reason: str = "shutdown") -> bool:
        """Remove a worker from the registry (emits ``worker_disconnected``)."""
        return bool(await self._fcall("jobq_deregister_worker", worker_id, self._maxlen, reason))

    # ------------------------------------------------------------------ reads
    async def get_job(self, job_id: str) -> Job:
        """The job ``job_id``; :class:`JobNotFound` if there is none."""
        record: dict[str, str] = await self.redis.hgetall(self.keys.job(job_id))  # type: ignore[assignment]
        if not record:
            raise JobNotFound(f"Job not found: {job_id}")
        return codec.job_from_hash(record)

    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job | None]:
        """Several jobs in one round trip (None where a job does not exist)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self.keys.job(job_id))
            records = await pipe.execute()
        return [codec.job_from_hash(r) if r else None for r in records]

    async def parent_results(self, job: Job) -> dict[str, Any]:
        """The results of a workflow step's parents, by parent job id."""
        if not job.depends_on:
            return {}
        parents = await self.get_jobs(job.depends_on)
        return {p.id: p.result for p in parents if p is not None}

    async def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        job_type: str | None = None,
        worker_id: str | None = None,
        workflow_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPage:
        """A page of jobs, newest first, filtered; see :func:`jobq.queries.list_jobs`."""
        return await queries.list_jobs(
            self, status=status, job_type=job_type, worker_id=worker_id,
            workflow_id=workflow_id, limit=limit, cursor=cursor,
        )  # fmt: skip

    async def list_workers(self) -> list[WorkerInfo]:
        """Registered workers with status and current jobs."""
        return await queries.list_workers(self)

    async def queue_stats(self) -> QueueStats:
        """Queue depths per shape and pool, and job counts per status."""
        return await queries.queue_stats(self)

    async def count_by_status(self) -> dict[str, int]:
        """How many live jobs are in each status."""
        return await queries.count_by_status(self)

    # ------------------------------------------------------------------ events
    async def read_events(
        self, since: str = "0-0", *, count: int = 500, block: float | None = None
    ) -> list[Event]:
        """Events after ``since``, oldest first (``block`` seconds to wait for one)."""
        return await events.read_events(self, since, count=count, block=block)

    def iter_events(self, since: str | None = None) -> AsyncIterator[Event]:
        """Every event after ``since`` (default: from now on), forever."""
        return events.iter_events(self, since)

    async def last_event_id(self) -> str:
        """The id of the newest event."""
        return await events.last_event_id(self)

    async def wait_for(self, job_id: str, *, timeout: float = 60.0) -> Job:
        """Wait for the job to finish (completed, failed for good, or cancelled)."""
        return await events.wait_for_job(self, job_id, timeout=timeout)

    # ------------------------------------------------------------------ workflows
    async def create_workflow(self, spec: WorkflowSpec | Mapping[str, Any]) -> WorkflowCreated:
        """Create a workflow (a DAG of jobs) atomically."""
        return await workflows.create_workflow(self, spec)

    async def get_workflow(self, workflow_id: str) -> WorkflowState:
        """A workflow with the state of each step."""
        return await workflows.get_workflow(self, workflow_id)

    async def workflow_job_completed(
        self, workflow_id: str, job_id: str, result: Mapping[str, Any] | None = None
    ) -> bool:
        """Idempotent "step completed" notification for executors that report over HTTP."""
        return await workflows.job_completed(self, workflow_id, job_id, result)


def new_id() -> str:
    """A new job or workflow id."""
    return str(uuid.uuid4())


def _token(token: int | None) -> str:
    return "" if token is None else str(token)
