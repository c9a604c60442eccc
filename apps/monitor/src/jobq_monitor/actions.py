"""Actions (form posts with a CSRF token): submit a simulation test job or a demo
workflow, cancel a job, retry a job. Each answers with a redirect to what it changed."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from jobq.catalog import parse_spec
from jobq_monitor.app import Links, monitor_of
from jobq_monitor.auth import CSRF_FIELD
from jobq_monitor.guards import require_csrf

router = APIRouter(prefix="/actions", dependencies=[Depends(require_csrf)])

POOLS = ("fast-lane", "standard", "heavy")


class SimulationForm(BaseModel):
    """The "submit a test job" form: simulation jobs (see the worker's simulation connector)."""

    model_config = ConfigDict(extra="forbid")

    duration: float = Field(4.0, ge=0, le=3600, description="seconds the job runs")
    steps: int = Field(4, ge=0, le=100, description="progress reports")
    fail_rate: float = Field(0.0, ge=0, le=1, description="chance that an attempt fails")
    priority: int = Field(50, ge=0, le=100)
    pool: Literal["", "fast-lane", "standard", "heavy"] = ""
    count: int = Field(1, ge=1, le=100, description="how many such jobs")

    def specs(self) -> list[dict[str, Any]]:
        """The job specs this form submits."""
        spec: dict[str, Any] = {
            "type": "simulation",
            "priority": self.priority,
            "parameters": {
                "duration": self.duration,
                "steps": self.steps,
                "fail_rate": self.fail_rate,
            },
            "metadata": {"source": "jobq-monitor"},
        }
        if self.pool:
            spec["requirements"] = {"capabilities": ["simulation"], "pool_preference": self.pool}
        return [dict(spec) for _ in range(self.count)]


def demo_workflow(duration: float = 2.0) -> dict[str, Any]:
    """A small diamond-shaped workflow of simulation steps: prepare -> (a, b) -> merge."""

    def step(name: str, depends_on: list[int]) -> dict[str, Any]:
        return {
            "type": "simulation",
            "parameters": {"duration": duration, "steps": 2},
            "metadata": {"step": name, "source": "jobq-monitor"},
            "depends_on": depends_on,
        }

    return {
        "name": "demo-diamond",
        "description": "prepare, two branches in parallel, then merge",
        "steps": [
            step("prepare", []),
            step("left", [0]),
            step("right", [0]),
            step("merge", [1, 2]),
        ],
    }


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form without the CSRF token and without empty fields (defaults apply)."""
    form = await request.form()
    return {
        key: value
        for key, value in form.items()
        if key != CSRF_FIELD and isinstance(value, str) and value.strip() != ""
    }


@router.post("/submit", name="submit_test_job")
async def submit_test_job(request: Request) -> RedirectResponse:
    """Submit simulation test jobs; go to the job (or to the jobs table for several)."""
    form = parse_spec(SimulationForm, await form_fields(request))
    broker = await monitor_of(request).broker()
    results = await broker.submit_many(form.specs())
    url = Links(request)
    if len(results) == 1:
        target = url("job", job_id=results[0].job_id, query={"notice": "submitted"})
    else:
        target = url("jobs", query={"notice": "submitted-many"})
    return RedirectResponse(target, status_code=303)


@router.post("/workflow", name="submit_demo_workflow")
async def submit_demo_workflow(request: Request) -> RedirectResponse:
    """Create the demo workflow and show its graph."""
    broker = await monitor_of(request).broker()
    created = await broker.create_workflow(demo_workflow())
    target = Links(request)(
        "workflow", workflow_id=created.workflow_id, query={"notice": "workflow"}
    )
    return RedirectResponse(target, status_code=303)


@router.post("/jobs/{job_id}/cancel", name="cancel_job")
async def cancel_job(request: Request, job_id: str) -> RedirectResponse:
    """Cancel a job (a running one is stopped by its worker)."""
    broker = await monitor_of(request).broker()
    await broker.cancel(job_id, reason="cancelled from the monitor")
    target = Links(request)("job", job_id=job_id, query={"notice": "cancelled"})
    return RedirectResponse(target, status_code=303)


@router.post("/jobs/{job_id}/retry", name="retry_job")
async def retry_job(request: Request, job_id: str) -> RedirectResponse:
    """Retry a failed or cancelled job now."""
    broker = await monitor_of(request).broker()
    await broker.retry(job_id)
    target = Links(request)("job", job_id=job_id, query={"notice": "retried"})
    return RedirectResponse(target, status_code=303)
