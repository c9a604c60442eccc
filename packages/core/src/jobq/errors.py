"""Error codes shared by the Lua library, the core and the HTTP API.

Every failure jobq reports has a code from :data:`ERROR_CODES`. The Lua functions
reply with ``redis.error_reply("<CODE> <detail>")`` (the same codes live in
``lua/_errors.lua``); :func:`from_response_error` is the one place where such a
reply becomes a typed exception. The API turns exceptions into its error envelope
with :attr:`JobqError.code` and :attr:`JobqError.http_status`.
"""

from __future__ import annotations

import re
from typing import ClassVar

from redis.exceptions import ResponseError


class JobqError(Exception):
    """Base class of every jobq error; carries a stable ``code`` and an HTTP status."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(JobqError):
    """The input does not satisfy the job catalog or a model's constraints."""

    code = "VALIDATION_ERROR"
    http_status = 400


class JobNotFound(JobqError):
    """No job with that id exists (or it expired after its retention)."""

    code = "JOB_NOT_FOUND"
    http_status = 404


class WorkflowNotFound(JobqError):
    """No workflow with that id exists."""

    code = "WORKFLOW_NOT_FOUND"
    http_status = 404


class InvalidState(JobqError):
    """The job is not in a state that allows the transition (e.g. cancel a completed job)."""

    code = "INVALID_STATE"
    http_status = 409


class LeaseLost(JobqError):
    """The caller's lease on the job is gone: it expired, the job was cancelled or re-claimed."""

    code = "LEASE_LOST"
    http_status = 409


class StaleShapes(JobqError):
    """The caller's view of the requirement-shape registry is out of date (internal)."""

    code = "STALE_SHAPES"
    http_status = 409


class MalformedJob(JobqError):
    """A stored job record cannot be decoded."""

    code = "MALFORMED_JOB"
    http_status = 500


#: code -> exception class; the Lua side uses the same codes (lua/_errors.lua).
ERROR_CODES: dict[str, type[JobqError]] = {
    cls.code: cls
    for cls in (
        ValidationFailed,
        JobNotFound,
        WorkflowNotFound,
        InvalidState,
        LeaseLost,
        StaleShapes,
        MalformedJob,
    )
}


#: The suffix Redis appends to an error raised inside a function
#: (`` script: <name>, on @user_function:<line>.``): not for users' eyes.
LUA_LOCATION = re.compile(r"\s+script: \S+, on @user_function:\d+\.?$")


def from_response_error(error: ResponseError) -> JobqError | ResponseError:
    """Turn a Redis error reply from a jobq function into its typed exception.

    Replies that do not start with a known code are returned unchanged, so a real
    Redis error (out of memory, wrong type) keeps its type and message.
    """
    text = LUA_LOCATION.sub("", str(error))
    code, _, detail = text.partition(" ")
    cls = ERROR_CODES.get(code)
    if cls is None:
        return error
    return cls(detail or code)
