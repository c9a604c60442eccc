"""The ``http`` connector: run a job by calling a REST service.

``mode = "sync"``: ``POST url`` with the job (``job_id``, ``type``, ``prompt``,
``parameters``, ``metadata``); the JSON answer (or its ``result_field``) is the result.

``mode = "poll"``: ``POST url`` submits the job and answers with its remote id
(``id_field``); then ``GET status_url`` (``{id}`` is replaced) every ``poll_interval``
seconds until ``status_field`` is one of ``done_values`` (the result is
``result_field`` of that answer) or ``failed_values`` (the job fails with
``error_field``). A ``progress_field`` (0-100) is reported while it runs.

Answers 408, 429 and 5xx, timeouts and lost connections fail the attempt (retried);
other 4xx answers fail the job for good.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import Field, model_validator

from jobq_worker.connectors.base import (
    ConnectorError,
    ConnectorOptions,
    FromOptions,
    as_object,
    job_payload,
)
from jobq_worker.connectors.web import WebClient
from jobq_worker.context import JobContext


class HttpOptions(ConnectorOptions):
    """Options of the ``http`` connector."""

    url: str = Field(pattern=r"^https?://", description="where jobs are POSTed")
    mode: Literal["sync", "poll"] = "sync"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(60.0, gt=0, description="seconds per HTTP request")
    result_field: str | None = Field(None, description="the result is this field of the answer")
    status_url: str | None = Field(None, description="poll mode: GET this; {id} is replaced")
    id_field: str = "id"
    status_field: str = "status"
    progress_field: str | None = "progress"
    error_field: str = "error"
    done_values: list[str] = Field(default_factory=lambda: ["completed", "succeeded", "done"])
    failed_values: list[str] = Field(default_factory=lambda: ["failed", "error", "cancelled"])
    poll_interval: float = Field(0.5, gt=0)

    @model_validator(mode="after")
    def _poll_needs_status_url(self) -> HttpOptions:
        if self.mode == "poll" and not self.status_url:
            raise ValueError("mode 'poll' needs status_url")
        return self


class HttpConnector(FromOptions):
    """Calls a REST service per job (one shared connection pool)."""

    Options = HttpOptions
    options: HttpOptions

    def __init__(self, options: HttpOptions) -> None:
        super().__init__(options)
        self.web = WebClient(headers=options.headers, timeout=options.timeout)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.web.aclose()

    async def __call__(self, ctx: JobContext) -> dict[str, Any]:
        """Run the job on the service."""
        answer = await self.web.request("POST", self.options.url, json=job_payload(ctx))
        if self.options.mode == "sync":
            return self._result(answer)
        remote_id = answer.get(self.options.id_field) if isinstance(answer, dict) else None
        if remote_id is None:
            raise ConnectorError(f"the submit answer has no {self.options.id_field!r}: {answer!r}")
        assert self.options.status_url is not None
        status_url = self.options.status_url.replace("{id}", str(remote_id))
        while True:
            status = await self.web.request("GET", status_url)
            if not isinstance(status, dict):
                raise ConnectorError(f"the status answer is not an object: {status!r}")
            state = str(status.get(self.options.status_field, ""))
            if state in self.options.done_values:
                return self._result(status)
            if state in self.options.failed_values:
                error = status.get(self.options.error_field) or state
                raise ConnectorError(f"remote job {remote_id} {state}: {error}")
            progress = status.get(self.options.progress_field or "")
            if isinstance(progress, int | float) and 0 <= progress <= 100:
                ctx.progress(progress)
            await asyncio.sleep(self.options.poll_interval)

    def _result(self, answer: Any) -> dict[str, Any]:
        field = self.options.result_field
        if field is not None:
            if not isinstance(answer, dict) or field not in answer:
                raise ConnectorError(f"the answer has no {field!r}: {str(answer)[:200]}")
            answer = answer[field]
        return as_object(answer)
