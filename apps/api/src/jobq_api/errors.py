"""The one error envelope of the API and the one table from error code to HTTP status.

Every error response is ``{"success": false, "error": {"code": "...", "message": "..."}}``.
Errors raised by the core (:class:`jobq.errors.JobqError`) keep their code; the API adds
its own few (:class:`ApiError`). :func:`install` registers the exception handlers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobq.errors import JobqError

log = logging.getLogger("jobq_api")
_LUA_SUFFIX = re.compile(r"\s*script: \S+, on @\S+\.?$")

#: Error code -> HTTP status. The core's codes (jobq.errors.ERROR_CODES) and the API's.
HTTP_STATUS: dict[str, int] = {
    # raised by the core
    "VALIDATION_ERROR": 400,
    "JOB_NOT_FOUND": 404,
    "WORKFLOW_NOT_FOUND": 404,
    "INVALID_STATE": 409,
    "LEASE_LOST": 409,
    "STALE_SHAPES": 409,
    "MALFORMED_JOB": 500,
    "TIMEOUT": 504,
    "INTERNAL_ERROR": 500,
    # raised by the API
    "UNAUTHORIZED": 401,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "NOT_READY": 503,
    "UNAVAILABLE": 503,
}

#: HTTP status -> code, for errors raised by the framework itself (unknown route, ...).
_FRAMEWORK_CODES: dict[int, str] = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable code and a message for people."""

    code: str = Field(examples=["JOB_NOT_FOUND"])
    message: str = Field(examples=["Job not found: 2f0c0a7e-8d52-4a8e-9a51-3c7d0c2f9b1e"])


class ErrorResponse(BaseModel):
    """The body of every error response."""

    success: Literal[False] = False
    error: ErrorDetail


class ApiError(Exception):
    """An error raised by the API itself (not by the core)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def status_of(code: str) -> int:
    """The HTTP status of an error code (500 for a code the table does not know)."""
    return HTTP_STATUS.get(code, 500)


def error_response(
    code: str, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The error envelope as a response with the code's HTTP status."""
    body = {"success": False, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status_of(code), headers=headers)


def describe_request_errors(errors: Sequence[Any]) -> str:
    """One message naming every invalid field of a request: ``validation failed: priority:
    Input should be less than or equal to 100``."""
    parts: list[str] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        kind = error.get("type", "")
        source = loc[0] if loc else "body"
        if kind == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "malformed")
            position = loc[1] if len(loc) > 1 else "?"
            parts.append(f"body: invalid JSON at position {position}: {reason}")
            continue
        where = ".".join(loc[1:])
        if source == "body" and not where:
            if kind == "missing":
                parts.append("body: a JSON object is required")
            else:
                parts.append("body: must be a JSON object")
            continue
        if source in ("query", "path", "header"):
            where = f"{source} parameter {where}"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "validation failed: " + "; ".join(parts)


def _unauthorized_headers(code: str) -> dict[str, str] | None:
    return {"WWW-Authenticate": 'ApiKey header="x-api-key"'} if code == "UNAUTHORIZED" else None


def clean_message(message: str) -> str:
    """A core error message without the Lua location Redis appends to function errors
    (`` script: jobq_cancel, on @user_function:12.``)."""
    return _LUA_SUFFIX.sub("", message)


async def _jobq_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, JobqError)
    message = clean_message(exc.message)
    if status_of(exc.code) >= 500:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, exc.code, message)
    return error_response(exc.code, message)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.code, exc.message, headers=_unauthorized_headers(exc.code))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response("VALIDATION_ERROR", describe_request_errors(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _FRAMEWORK_CODES.get(exc.status_code, "INTERNAL_ERROR")
    if exc.status_code == 404:
        message = f"Not found: no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"Method not allowed: {request.method} {request.url.path}"
    elif code == "VALIDATION_ERROR":
        message = f"validation failed: body: {exc.detail}"
    else:
        message = str(exc.detail)
    response = error_response(code, message, headers=_unauthorized_headers(code))
    response.status_code = exc.status_code if exc.status_code != 422 else 400
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _unicode_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(
        "VALIDATION_ERROR", "validation failed: text must be valid Unicode (no lone surrogates)"
    )


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: Redis unavailable: %s", request.method, request.url.path, exc)
    return error_response("UNAVAILABLE", "Redis is unavailable; try again shortly")


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response("INTERNAL_ERROR", "internal error")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the error envelope."""
    app.add_exception_handler(JobqError, _jobq_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(UnicodeError, _unicode_error)
    app.add_exception_handler(RedisConnectionError, _redis_down)
    app.add_exception_handler(RedisTimeoutError, _redis_down)
    app.add_exception_handler(Exception, _internal_error)


#: ``responses=`` for routes: the error statuses a route may answer, with the envelope.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the given error statuses (all with :class:`ErrorResponse`)."""
    descriptions = {
        400: "Invalid input (VALIDATION_ERROR); the message names the field",
        401: "Missing or wrong x-api-key (UNAUTHORIZED)",
        404: "Unknown job or workflow (JOB_NOT_FOUND, WORKFLOW_NOT_FOUND)",
        409: "The job is not in a state that allows this (INVALID_STATE, LEASE_LOST)",
        413: "The request body is too large (PAYLOAD_TOO_LARGE)",
        503: "Redis is unavailable (UNAVAILABLE, NOT_READY)",
    }
    return {
        status: {"model": ErrorResponse, "description": descriptions.get(status, "Error")}
        for status in statuses
    }
