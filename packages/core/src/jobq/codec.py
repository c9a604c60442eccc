"""Conversions between stored Redis records and jobq models."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from jobq.errors import MalformedJob
from jobq.matching import Shape
from jobq.models import (
    Attempt,
    ClaimedJob,
    Event,
    Job,
    JobSpec,
    Workflow,
    WorkflowStatus,
    ms_to_datetime,
)

#: Payload fields kept together in the job hash's ``data`` field (never read by Lua,
#: except by the findMatchingJob compatibility view).
JobT = TypeVar("JobT", bound=Job)

DATA_FIELDS = ("prompt", "parameters", "requirements", "metadata")


def dumps(value: Any) -> str:
    """Compact JSON."""
    return json.dumps(value, separators=(",", ":"), default=str)


def submit_fields(
    job_id: str,
    spec: JobSpec,
    shape: Shape,
    *,
    delay_ms: int = 0,
    workflow_id: str = "",
    step_index: int | None = None,
    parents: list[str] | None = None,
    dependents: list[str] | None = None,
) -> list[str | int]:
    """The ARGV group of one job for ``jobq_submit`` (order: SUBMIT_FIELDS in _submit.lua)."""
    # The requirements are the shape's canonical JSON (plus the informational
    # expected_duration), spliced in as text rather than decoded and encoded again.
    requirements = shape.json
    if spec.requirements is not None and spec.requirements.expected_duration is not None:
        requirements = (
            f'{requirements[:-1]},"expected_duration":{spec.requirements.expected_duration}}}'
        )
    rest = dumps({"prompt": spec.prompt, "parameters": spec.parameters, "metadata": spec.metadata})
    data = f'{{"requirements":{requirements},{rest[1:]}'
    parents = parents or []
    return [
        job_id,
        spec.type,
        spec.priority,
        shape.id,
        shape.json,
        data,
        spec.max_retries,
        round(spec.retry_backoff * 1000),
        round(spec.timeout * 1000) if spec.timeout else "",
        delay_ms,
        spec.idempotency_key or "",
        spec.webhook_url or "",
        workflow_id,
        "" if step_index is None else step_index,
        len(parents) or "",
        dumps(dependents) if dependents else "",
        dumps(parents) if parents else "",
    ]


def _opt(record: Mapping[str, str], name: str) -> str | None:
    value = record.get(name)
    return value if value else None


def job_from_hash(record: Mapping[str, str]) -> Job:
    """Decode a job hash; :class:`MalformedJob` if it cannot be decoded."""
    return _decode(Job, record)


def claimed_from_hash(record: Mapping[str, str]) -> ClaimedJob:
    """Decode a job hash returned by a claim (it carries the fencing token)."""
    return _decode(ClaimedJob, record)


def _decode(model: type[JobT], record: Mapping[str, str]) -> JobT:
    try:
        data = json.loads(record.get("data") or "{}")
        timeout_ms = int(record.get("timeout_ms") or 0)
        step = record.get("step_index")
        fields: dict[str, Any] = {
            "id": record["id"],
            "type": record["type"],
            "status": record["status"],
            "priority": int(record["priority"]),
            "prompt": data.get("prompt"),
            "parameters": data.get("parameters") or {},
            "requirements": data.get("requirements") or {},
            "metadata": data.get("metadata") or {},
            "progress": int(record.get("progress") or 0),
            "progress_message": _opt(record, "message"),
            "created_at": ms_to_datetime(record["created_at"]),
            "started_at": ms_to_datetime(record.get("started_at")),
            "completed_at": ms_to_datetime(record.get("completed_at")),
            "run_at": ms_to_datetime(record.get("run_at")),
            "result": json.loads(record["result"]) if record.get("result") else None,
            "error": _opt(record, "error"),
            "retry_count": int(record.get("retry_count") or 0),
            "max_retries": int(record.get("max_retries") or 0),
            "timeout": timeout_ms / 1000 if timeout_ms else None,
            "worker_id": _opt(record, "worker_id"),
            "webhook_url": _opt(record, "webhook_url"),
            "idempotency_key": _opt(record, "idempotency_key"),
            "workflow_id": _opt(record, "workflow_id"),
            "step_index": int(step) if step else None,
            "depends_on": json.loads(record.get("parents") or "[]"),
            "attempts": [
                Attempt(
                    attempt=a["attempt"],
                    error=a["error"],
                    worker_id=a.get("worker_id") or None,
                    at=ms_to_datetime(a["at"]),
                )
                for a in json.loads(record.get("attempts") or "[]")
            ],
        }
        if "token" in record and model is ClaimedJob:
            fields["token"] = int(record["token"])
        return model.model_validate(fields)
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        job_id = record.get("id", "?")
        raise MalformedJob(f"job record {job_id} is malformed: {exc}") from exc


def pairs_to_dict(flat: list[Any]) -> dict[str, str]:
    """A flat field/value list (a hash as Lua returns it) to a dict."""
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}


def event_from_entry(entry_id: str, fields: Mapping[str, str]) -> Event:
    """Decode one stream entry. The timestamp is the entry id's millisecond part."""
    data = json.loads(fields["data"]) if fields.get("data") else {}
    return Event(
        event_id=entry_id,
        type=fields.get("type", "unknown"),
        timestamp=ms_to_datetime(entry_id.split("-", 1)[0]),
        job_id=fields.get("job_id"),
        workflow_id=fields.get("workflow_id"),
        worker_id=fields.get("worker_id"),
        data=data if isinstance(data, dict) else {"value": data},
    )


def workflow_from_hash(record: Mapping[str, str]) -> Workflow:
    """Decode a workflow hash."""
    info = json.loads(record.get("info") or "{}")
    total = int(record["total_steps"])
    done = int(record.get("completed_steps") or 0)
    return Workflow(
        id=record["id"],
        name=record.get("name", ""),
        description=info.get("description"),
        status=WorkflowStatus(record["status"]),
        total_steps=total,
        completed_steps=done,
        progress_percentage=round(100 * done / total, 1) if total else 100.0,
        created_at=ms_to_datetime(record["created_at"]),
        completed_at=ms_to_datetime(record.get("completed_at")),
        webhook_url=info.get("webhook_url"),
        error=_opt(record, "error"),
    )
