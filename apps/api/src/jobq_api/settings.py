"""API settings: the core's ``JOBQ_*`` settings plus the server's own ``JOBQ_API_*``."""

from __future__ import annotations

from pydantic import Field

from jobq.settings import CoreSettings


class ApiSettings(CoreSettings):
    """Settings of ``jobq api``. Each field reads ``JOBQ_<NAME>`` (e.g. ``JOBQ_API_PORT``).

    The API keys (``JOBQ_API_KEYS``) and the webhook secret (``JOBQ_WEBHOOK_SECRET``)
    come from :class:`~jobq.settings.CoreSettings`.
    """

    api_host: str = Field("127.0.0.1", description="address `jobq api` listens on")
    api_port: int = Field(8000, ge=1, le=65535, description="port `jobq api` listens on")
    api_max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="larger request bodies are refused with 413"
    )
    api_redis_connections: int = Field(
        256,
        ge=8,
        description="Redis connections of one API process; requests beyond wait for one",
    )
    api_ws_buffer: int = Field(
        1000, ge=10, description="events queued for one WebSocket client before it is closed"
    )
    api_ws_ping_seconds: float = Field(
        20.0, gt=0, description="seconds between keepalive pings on idle WebSockets"
    )
    api_webhooks: bool = Field(True, description="deliver webhooks from this instance")
    api_webhook_attempts: int = Field(
        8, ge=1, le=100, description="delivery attempts per webhook before it is given up"
    )
    api_webhook_backoff: float = Field(
        1.0, ge=0, description="seconds before the first retry; doubles per attempt"
    )
    api_webhook_backoff_max: float = Field(
        600.0, ge=0, description="the longest wait between two attempts (seconds)"
    )
    api_webhook_timeout: float = Field(
        10.0, gt=0, le=300, description="seconds one delivery attempt may take"
    )
    api_webhook_progress: bool = Field(
        False, description="also deliver job_progress events (not only terminal ones)"
    )
    api_webhook_concurrency: int = Field(
        16, ge=1, le=1000, description="delivery attempts in flight per API instance"
    )
    api_webhook_log_size: int = Field(
        100, ge=1, description="attempts kept in the delivery log of one job or workflow"
    )
    api_webhook_reclaim_seconds: float = Field(
        30.0,
        gt=0,
        description="an event read by an instance that died is taken over after this long",
    )

    @property
    def webhook_lease_seconds(self) -> float:
        """How long a claimed delivery belongs to one instance (an attempt's timeout plus
        a margin); after that another instance may take it over."""
        return self.api_webhook_timeout + 5.0
