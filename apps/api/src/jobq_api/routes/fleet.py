"""Workers, queues, health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError

from jobq.functions import ensure_library
from jobq_api.body import StrictJsonRoute
from jobq_api.errors import error_response, error_responses
from jobq_api.metrics import CONTENT_TYPE
from jobq_api.routes.common import api_router, envelope
from jobq_api.schemas import HealthResponse, QueuesResponse, ReadyResponse, WorkersResponse
from jobq_api.state import api_state

router = api_router("", "fleet", 503)
probes = APIRouter(tags=["fleet"], route_class=StrictJsonRoute)


@router.get("/api/workers", response_model=WorkersResponse, summary="Registered workers")
async def list_workers(request: Request) -> Response:
    """Every registered worker: capabilities, online or offline, the jobs it holds."""
    workers = await api_state(request).broker.list_workers()
    body = b",".join(worker.model_dump_json().encode() for worker in workers)
    return Response(b'{"success":true,"workers":[%s]}' % body, media_type="application/json")


@router.get("/api/queues", response_model=QueuesResponse, summary="Queue depths")
async def queue_stats(request: Request) -> Response:
    """Pending jobs per requirement shape (and which online workers can run it), per pool,
    delayed jobs, and job counts per status."""
    return envelope("queues", await api_state(request).broker.queue_stats())


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Jobs by state, queue depth per pool and shape, claim and end-to-end latency,
    webhook deliveries and failures, WebSocket clients (Prometheus text format)."""
    state = api_state(request)
    await state.metrics.refresh(state.broker, state.outbox)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)


@probes.get("/health", response_model=HealthResponse, summary="Liveness")
async def health() -> Response:
    """The process is up (Redis is not asked; see `/ready`). No API key needed."""
    return JSONResponse({"status": "ok"})


@probes.get(
    "/ready",
    response_model=ReadyResponse,
    summary="Readiness",
    responses=error_responses(503),
)
async def ready(request: Request) -> Response:
    """Redis answers and the function library is loaded. No API key needed."""
    broker = api_state(request).broker
    try:
        await ensure_library(broker.redis)
    except RedisError as exc:
        return error_response("NOT_READY", f"Redis is not available: {exc}")
    return JSONResponse({"status": "ready"})
