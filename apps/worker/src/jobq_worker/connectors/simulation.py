"""The ``simulation`` connector: a job that takes time, reports progress and sometimes
fails, for demos and tests.

Job parameters (each falls back to the connector's option of the same name):
``duration`` seconds in total, ``steps`` progress steps, ``fail_rate`` the probability
that an attempt fails (at a random step), ``seed`` to make that choice repeatable (the
attempt number is mixed in, so a retry may go the other way).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from pydantic import Field

from jobq_worker.connectors.base import ConnectorOptions, FromOptions
from jobq_worker.context import JobContext
from jobq_worker.errors import PermanentError


class SimulatedFailure(Exception):
    """The failure a simulated job was drawn to have (retryable, like a real crash)."""


class SimulationOptions(ConnectorOptions):
    """Defaults for jobs that do not set the parameter themselves."""

    duration: float = Field(3.0, ge=0, le=86400, description="seconds")
    steps: int = Field(5, ge=0, le=10_000, description="progress steps")
    fail_rate: float = Field(0.0, ge=0, le=1, description="probability an attempt fails")


def _number(params: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise PermanentError(f"simulation: parameters.{name} must be a number from {low} to {high}")
    return float(value)


class SimulationConnector(FromOptions):
    """Sleep through the job in steps, reporting progress after each but the last."""

    Options = SimulationOptions
    options: SimulationOptions

    async def __call__(self, ctx: JobContext) -> dict[str, Any]:
        """Run the simulated job."""
        params = ctx.parameters
        duration = _number(params, "duration", self.options.duration, 0, 86400)
        steps = int(_number(params, "steps", self.options.steps, 0, 10_000))
        fail_rate = _number(params, "fail_rate", self.options.fail_rate, 0, 1)
        fail_at = 0
        if fail_rate:
            seed = params.get("seed")
            rng = random.Random(f"{seed}:{ctx.attempt}") if seed is not None else random.Random()
            if rng.random() < fail_rate:
                fail_at = rng.randint(1, max(steps, 1))
        if steps == 0:
            if duration:
                await asyncio.sleep(duration)
            if fail_at:
                raise SimulatedFailure(f"simulated failure (fail_rate {fail_rate})")
        for step in range(1, steps + 1):
            if duration:
                await asyncio.sleep(duration / steps)
            if step == fail_at:
                raise SimulatedFailure(f"simulated failure at step {step}/{steps}")
            if step < steps:
                ctx.progress(100 * step / steps, f"step {step}/{steps}")
        return {
            "simulated": True,
            "duration": duration,
            "steps": steps,
            "attempt": ctx.attempt,
            "worker_id": ctx.worker_id,
        }
