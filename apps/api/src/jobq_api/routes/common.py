"""Helpers shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel

from jobq_api.body import StrictJsonRoute
from jobq_api.errors import error_responses

#: A job or workflow id in a path.
SubjectId = Annotated[str, Path(min_length=1, max_length=256, examples=["2f0c0a7e-8d52-4a8e"])]


def api_router(prefix: str, tag: str, *statuses: int) -> APIRouter:
    """A router for key-protected routes (see :mod:`jobq_api.auth`) that documents the
    given error statuses."""
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        responses=error_responses(401, *statuses),
        route_class=StrictJsonRoute,
    )


def envelope(name: str, model: BaseModel) -> Response:
    """``{"success": true, "<name>": <model>}`` serialized by pydantic in one pass."""
    body = b'{"success":true,"%s":%s}' % (name.encode(), model.model_dump_json().encode())
    return Response(body, media_type="application/json")
