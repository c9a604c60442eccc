"""Parsing the jobs table's query parameters (bad values are a 400, never a 500)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Request

from jobq.catalog import TYPE_NAME
from jobq.errors import ValidationFailed
from jobq.models import JobStatus

CURSOR = re.compile(r"^[0-9]{1,20}$")
DEFAULT_LIMIT = 25
MAX_LIMIT = 200


@dataclass(frozen=True)
class JobFilters:
    """The jobs table's filters and page position."""

    status: JobStatus | None = None
    job_type: str | None = None
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT

    def query(self, *, cursor: str | None = None) -> dict[str, str]:
        """Query parameters for a link to this listing (at ``cursor``)."""
        params = {
            "status": str(self.status) if self.status else "",
            "type": self.job_type or "",
            "limit": str(self.limit) if self.limit != DEFAULT_LIMIT else "",
            "cursor": cursor or "",
        }
        return {k: v for k, v in params.items() if v}


def job_filters(
    status: str | None, job_type: str | None, cursor: str | None, limit: str | None
) -> JobFilters:
    """Validated filters from raw strings; empty strings mean "any"."""
    parsed_status = None
    if status:
        try:
            parsed_status = JobStatus(status)
        except ValueError:
            names = ", ".join(s.value for s in JobStatus)
            raise ValidationFailed(
                f"validation failed: status {status!r} is not one of {names}"
            ) from None
    if job_type and not TYPE_NAME.match(job_type):
        raise ValidationFailed(f"validation failed: {job_type!r} is not a job type name")
    if cursor and not CURSOR.match(cursor):
        raise ValidationFailed("validation failed: cursor must come from a 'next page' link")
    size = DEFAULT_LIMIT
    if limit:
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise ValidationFailed(
                f"validation failed: limit must be a number from 1 to {MAX_LIMIT}"
            )
        size = int(limit)
    return JobFilters(
        status=parsed_status, job_type=job_type or None, cursor=cursor or None, limit=size
    )


def parse_job_filters(request: Request) -> JobFilters:
    """Dependency: the filters of a jobs listing request."""
    query = request.query_params
    return job_filters(
        query.get("status"), query.get("type"), query.get("cursor"), query.get("limit")
    )
