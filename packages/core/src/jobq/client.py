"""The Python SDK: :class:`Client` (async) and :class:`SyncClient` (blocking).

async with Client.from_url("redis://localhost:6379/0") as jobq:
    job_id = await jobq.submit("text-to-image", prompt="a red fox")
    job = await jobq.wait(job_id)
    print(job.result)
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, Self, TypeVar

from jobq.broker import Broker
from jobq.catalog import Catalog
from jobq.errors import JobqError
from jobq.models import (
    Job,
    JobPage,
    JobSpec,
    JobStatus,
    WorkflowCreated,
    WorkflowSpec,
    WorkflowState,
)
from jobq.settings import CoreSettings

T = TypeVar("T")


class JobFailed(JobqError):
    """:meth:`Client.result` on a job that failed or was cancelled."""

    code = "JOB_FAILED"
    http_status = 409

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id} {job.status}: {job.error or 'no error recorded'}")
        self.job = job


class Client:
    """Submit jobs and workflows, inspect them, and wait for results."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        *,
        namespace: str | None = None,
        settings: CoreSettings | None = None,
        catalog: Catalog | None = None,
    ) -> Self:
        """A client on its own connection pool (default URL: ``JOBQ_REDIS_URL``)."""
        return cls(Broker.from_url(url, namespace=namespace, settings=settings, catalog=catalog))

    async def __aenter__(self) -> Self:
        await self.broker.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        await self.broker.close()

    async def submit(self, job_type: str | JobSpec, **fields: Any) -> str:
        """Submit one job: ``submit("upscale", parameters={"scale_factor": 2})``. Returns its id."""
        spec = job_type if isinstance(job_type, JobSpec) else {"type": job_type, **fields}
        return (await self.broker.submit(spec)).job_id

    async def submit_many(self, specs: Iterable[JobSpec | Mapping[str, Any]]) -> list[str]:
        """Submit many jobs in one round trip; returns their ids in order."""
        return [r.job_id for r in await self.broker.submit_many(specs)]

    async def get(self, job_id: str) -> Job:
        """The job (raises :class:`jobq.errors.JobNotFound`)."""
        return await self.broker.get_job(job_id)

    async def list(
        self,
        *,
        status: JobStatus | str | None = None,
        job_type: str | None = None,
        worker_id: str | None = None,
        workflow_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPage:
        """A page of jobs, newest first; pass ``page.next_cursor`` for the next one."""
        return await self.broker.list_jobs(
            status=JobStatus(status) if status is not None else None,
            job_type=job_type, worker_id=worker_id, workflow_id=workflow_id,
            limit=limit, cursor=cursor,
        )  # fmt: skip

    async def cancel(self, job_id: str, reason: str = "cancelled by client") -> JobStatus:
        """Cancel a job; returns the status it had."""
        return await self.broker.cancel(job_id, reason=reason)

    async def retry(self, job_id: str) -> JobStatus:
        """Retry a failed or cancelled job."""
        return await self.broker.retry(job_id)

    async def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Wait until the job finishes (completed, failed for good, cancelled)."""
        return await self.broker.wait_for(job_id, timeout=timeout)

    async def result(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for the job and return its result; :class:`JobFailed` if it did not complete."""
        job = await self.wait(job_id, timeout)
        if job.status != JobStatus.COMPLETED:
            raise JobFailed(job)
        return job.result or {}

    async def create_workflow(self, spec: WorkflowSpec | Mapping[str, Any]) -> WorkflowCreated:
        """Create a workflow (a DAG of steps)."""
        return await self.broker.create_workflow(spec)

    async def get_workflow(self, workflow_id: str) -> WorkflowState:
        """A workflow with its steps."""
        return await self.broker.get_workflow(workflow_id)


class SyncClient:
    """The blocking twin of :class:`Client`, for scripts and notebooks.

    It owns a private event loop; use it from one thread at a time.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        namespace: str | None = None,
        settings: CoreSettings | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self._runner = asyncio.Runner()
        self._client = Client.from_url(url, namespace=namespace, settings=settings, catalog=catalog)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and the private loop."""
        self._run(self._client.close())
        self._runner.close()

    def submit(self, job_type: str | JobSpec, **fields: Any) -> str:
        """See :meth:`Client.submit`."""
        return self._run(self._client.submit(job_type, **fields))

    def submit_many(self, specs: Iterable[JobSpec | Mapping[str, Any]]) -> list[str]:
        """See :meth:`Client.submit_many`."""
        return self._run(self._client.submit_many(specs))

    def get(self, job_id: str) -> Job:
        """See :meth:`Client.get`."""
        return self._run(self._client.get(job_id))

    def list(self, **filters: Any) -> JobPage:
        """See :meth:`Client.list`."""
        return self._run(self._client.list(**filters))

    def cancel(self, job_id: str, reason: str = "cancelled by client") -> JobStatus:
        """See :meth:`Client.cancel`."""
        return self._run(self._client.cancel(job_id, reason))

    def retry(self, job_id: str) -> JobStatus:
        """See :meth:`Client.retry`."""
        return self._run(self._client.retry(job_id))

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """See :meth:`Client.wait`."""
        return self._run(self._client.wait(job_id, timeout))

    def result(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """See :meth:`Client.result`."""
        return self._run(self._client.result(job_id, timeout))

    def create_workflow(self, spec: WorkflowSpec | Mapping[str, Any]) -> WorkflowCreated:
        """See :meth:`Client.create_workflow`."""
        return self._run(self._client.create_workflow(spec))

    def get_workflow(self, workflow_id: str) -> WorkflowState:
        """See :meth:`Client.get_workflow`."""
        return self._run(self._client.get_workflow(workflow_id))
