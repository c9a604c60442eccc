"""The HTML pages. Each page has a live region; the page's script re-fetches it (same
URL, header ``x-jobq-partial: 1``) when a relevant event arrives or after a reconnect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from jobq.broker import Broker
from jobq.models import JobStatus
from jobq_monitor import snapshots
from jobq_monitor.app import PARTIAL_HEADER, Links, monitor_of
from jobq_monitor.filters import JobFilters, parse_job_filters
from jobq_monitor.guards import require_session

router = APIRouter(dependencies=[Depends(require_session)])

#: Events shown in the side feed when a page loads.
FEED_SIZE = 40
#: Events shown on the events page.
EVENTS_PAGE_SIZE = 200

NOTICES = {
    "submitted": "Job submitted.",
    "submitted-many": "Jobs submitted.",
    "cancelled": "Job cancelled.",
    "retried": "Job queued again with a fresh retry budget.",
    "workflow": "Workflow created.",
}
NAV = [
    ("fleet", "Fleet"),
    ("queues", "Queues"),
    ("jobs", "Jobs"),
    ("workflows", "Workflows"),
    ("events", "Events"),
]

Loader = Callable[[Broker], Awaitable[dict[str, Any]]]


async def show(
    request: Request, page: str, title: str, load: Loader, *, feed_size: int = FEED_SIZE
) -> Response:
    """Render ``<page>.html`` (or only ``<page>_live.html`` for a live refresh).

    The newest events are read before the state, so the page's feed ends at an event id
    the state already includes; the script resumes the WebSocket from that id.
    """
    monitor = monitor_of(request)
    broker = await monitor.broker()
    partial = PARTIAL_HEADER in request.headers
    feed = [] if partial else await snapshots.recent_events(broker, feed_size)
    context = await load(broker)
    context.update(
        url=Links(request),
        session=request.state.session,
        page=page,
        title=title,
        nav=NAV,
        feed=feed,
        last_event_id=feed[0].event_id if feed else "0-0",
        notice=NOTICES.get(request.query_params.get("notice", "")),
        statuses=[str(s) for s in JobStatus],
    )
    template = f"{page}_live.html" if partial else f"{page}.html"
    return monitor.templates.TemplateResponse(request, template, context)


@router.get("/", name="fleet")
async def fleet_page(request: Request) -> Response:
    """Workers: capabilities, pool, status, current jobs, heartbeat age."""

    async def load(broker: Broker) -> dict[str, Any]:
        workers = await snapshots.fleet(broker)
        return {
            "workers": workers,
            "online": sum(1 for w in workers if w.info.status == "online"),
            "by_status": await broker.count_by_status(),
        }

    return await show(request, "fleet", "Fleet", load)


@router.get("/queues", name="queues")
async def queues_page(request: Request) -> Response:
    """Queue depth per requirement shape and per pool; unrunnable shapes flagged."""

    async def load(broker: Broker) -> dict[str, Any]:
        return {"queues": await snapshots.queues(broker)}

    return await show(request, "queues", "Queues", load)


@router.get("/jobs", name="jobs")
async def jobs_page(
    request: Request, filters: Annotated[JobFilters, Depends(parse_job_filters)]
) -> Response:
    """Jobs, newest first, filtered by status and type, one page at a time."""

    async def load(broker: Broker) -> dict[str, Any]:
        page = await broker.list_jobs(
            status=filters.status, job_type=filters.job_type,
            limit=filters.limit, cursor=filters.cursor,
        )  # fmt: skip
        return {
            "jobs": page.jobs,
            "next_cursor": page.next_cursor,
            "filters": filters,
            "types": sorted(job_type.name for job_type in broker.catalog),
        }

    return await show(request, "jobs", "Jobs", load)


@router.get("/jobs/{job_id}", name="job")
async def job_page(request: Request, job_id: str) -> Response:
    """One job: payload, requirements, timeline, result or error, retry history."""

    async def load(broker: Broker) -> dict[str, Any]:
        return {"view": await snapshots.job_view(broker, job_id)}

    return await show(request, "job", f"Job {job_id[:8]}", load)


@router.get("/workflows", name="workflows")
async def workflows_page(request: Request) -> Response:
    """The newest workflows."""

    async def load(broker: Broker) -> dict[str, Any]:
        return {"workflows": await snapshots.workflows(broker)}

    return await show(request, "workflows", "Workflows", load)


@router.get("/workflows/{workflow_id}", name="workflow")
async def workflow_page(request: Request, workflow_id: str) -> Response:
    """One workflow drawn as a graph of its steps."""

    async def load(broker: Broker) -> dict[str, Any]:
        return {"view": await snapshots.workflow_view(broker, workflow_id)}

    return await show(request, "workflow", f"Workflow {workflow_id[:8]}", load)


@router.get("/events", name="events")
async def events_page(request: Request) -> Response:
    """The newest events; new ones are added live."""

    async def load(broker: Broker) -> dict[str, Any]:
        return {}

    return await show(request, "events", "Events", load, feed_size=EVENTS_PAGE_SIZE)
