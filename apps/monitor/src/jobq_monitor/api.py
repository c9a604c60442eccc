"""The monitor's JSON API (under ``/api``): the same state the pages show, for scripts
and for the page's reconnect logic. Errors use the jobq envelope
``{"success": false, "error": {"code", "message"}}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from jobq_monitor import snapshots
from jobq_monitor.app import monitor_of
from jobq_monitor.filters import JobFilters, parse_job_filters
from jobq_monitor.guards import json_api, require_session
from jobq_monitor.wire import check_event_id

router = APIRouter(prefix="/api", dependencies=[Depends(json_api), Depends(require_session)])


@router.get("/overview", name="api_overview")
async def overview(request: Request) -> dict[str, Any]:
    """Job counts per status, workers online and offline, and the newest event id."""
    broker = await monitor_of(request).broker()
    last = await broker.last_event_id()
    summary = await snapshots.overview(broker)
    return {
        "success": True,
        "last_event_id": last,
        "by_status": summary.by_status,
        "workers": {"online": summary.workers_online, "offline": summary.workers_offline},
    }


@router.get("/workers", name="api_workers")
async def workers(request: Request) -> dict[str, Any]:
    """Registered workers (online first) with the jobs they hold."""
    broker = await monitor_of(request).broker()
    rows = await snapshots.fleet(broker)
    return {
        "success": True,
        "workers": [
            {
                **row.info.model_dump(mode="json"),
                "jobs": [
                    {"id": j.id, "type": j.type, "status": j.status, "progress": j.progress}
                    for j in row.jobs
                ],
            }
            for row in rows
        ],
    }


@router.get("/queues", name="api_queues")
async def queues(request: Request) -> dict[str, Any]:
    """Queue depths per shape and pool; ``stranded``: pending jobs no online worker can run."""
    broker = await monitor_of(request).broker()
    view = await snapshots.queues(broker)
    return {
        "success": True,
        "queues": view.stats.model_dump(mode="json"),
        "workers_online": view.workers_online,
        "stranded": view.stranded,
    }


@router.get("/jobs", name="api_jobs")
async def jobs(
    request: Request, filters: Annotated[JobFilters, Depends(parse_job_filters)]
) -> dict[str, Any]:
    """A page of jobs, newest first (``status``, ``type``, ``cursor``, ``limit``)."""
    broker = await monitor_of(request).broker()
    page = await broker.list_jobs(
        status=filters.status, job_type=filters.job_type, limit=filters.limit, cursor=filters.cursor
    )
    return {
        "success": True,
        "jobs": [job.model_dump(mode="json") for job in page.jobs],
        "next_cursor": page.next_cursor,
    }


@router.get("/jobs/{job_id}", name="api_job")
async def job(request: Request, job_id: str) -> dict[str, Any]:
    """One job with its event timeline."""
    broker = await monitor_of(request).broker()
    view = await snapshots.job_view(broker, job_id)
    return {
        "success": True,
        "job": view.job.model_dump(mode="json"),
        "timeline": [event.to_message() for event in view.timeline],
        "timeline_truncated": view.truncated,
    }


@router.get("/workflows", name="api_workflows")
async def workflows(request: Request) -> dict[str, Any]:
    """The newest workflows."""
    broker = await monitor_of(request).broker()
    found = await snapshots.workflows(broker)
    return {"success": True, "workflows": [wf.model_dump(mode="json") for wf in found]}


@router.get("/workflows/{workflow_id}", name="api_workflow")
async def workflow(request: Request, workflow_id: str) -> dict[str, Any]:
    """One workflow, its steps and the graph layout (a box per step, an edge per dependency)."""
    broker = await monitor_of(request).broker()
    view = await snapshots.workflow_view(broker, workflow_id)
    graph = view.layout
    return {
        "success": True,
        "workflow": view.state.workflow.model_dump(mode="json"),
        "steps": [step.model_dump(mode="json") for step in view.state.steps],
        "graph": {
            "width": graph.width,
            "height": graph.height,
            "nodes": [
                {"index": n.index, "layer": n.layer, "row": n.row, "x": n.x, "y": n.y}
                for n in graph.nodes.values()
            ],
            "edges": [{"source": e.source, "target": e.target} for e in graph.edges],
        },
    }


@router.get("/events", name="api_events")
async def events(
    request: Request,
    since: str | None = Query(None, description="return events after this id"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """Events after ``since`` (oldest first), or the newest ``limit`` (newest first)."""
    broker = await monitor_of(request).broker()
    check_event_id(since)
    if since is None:
        found = await snapshots.recent_events(broker, limit)
        last = found[0].event_id if found else await broker.last_event_id()
    else:
        found = await broker.read_events(since, count=limit)
        last = found[-1].event_id if found else since
    return {
        "success": True,
        "events": [event.to_message() for event in found],
        "last_event_id": last,
    }
