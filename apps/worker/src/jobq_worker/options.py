"""The runtime knobs of a worker process."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from jobq.broker import MAX_RESULT_BYTES


class WorkerOptions(BaseModel):
    """How a :class:`jobq_worker.Worker` runs (every field has a sensible default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(4, ge=1, le=10_000, description="jobs run at the same time")
    batch_size: int = Field(64, ge=1, le=1000, description="most jobs taken per claim")
    lease: float | None = Field(
        None, gt=0, description="lease of a claim, seconds (default: JOBQ_LEASE_SECONDS)"
    )
    heartbeat_interval: float | None = Field(
        None, gt=0, description="seconds between heartbeats (default: lease / 3, at most 2)"
    )
    poll_interval: float = Field(
        5.0, gt=0, description="claim at least this often even when no event says to"
    )
    grace_period: float = Field(
        30.0, ge=0, description="on SIGTERM, seconds running jobs get to finish"
    )
    max_result_bytes: int = Field(
        1024 * 1024, ge=1, le=MAX_RESULT_BYTES, description="largest result (JSON bytes)"
    )
    progress_interval: float = Field(
        0.1, ge=0, description="progress reports are coalesced over this many seconds"
    )

    def effective_heartbeat(self, lease: float) -> float:
        """The heartbeat interval for a lease of ``lease`` seconds."""
        if self.heartbeat_interval is not None:
            return min(self.heartbeat_interval, lease / 2)
        return min(lease / 3, 2.0)
