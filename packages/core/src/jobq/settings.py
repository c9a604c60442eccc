"""Settings from ``JOBQ_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class CoreSettings(BaseSettings):
    """Settings every jobq process shares. Each field reads ``JOBQ_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="JOBQ_", extra="ignore")

    redis_url: str = Field(
        "redis://localhost:6379/0",
        description="the Redis (or Valkey) URL; redis+cluster://host:port for a Redis Cluster",
    )
    redis_cluster: bool = Field(False, description="redis_url is a node of a Redis Cluster")
    namespace: str = Field("default", description="queue namespace (a Cluster hash tag)")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated API keys"
    )
    catalog: Path | None = Field(None, description="job type catalog file (TOML or JSON)")
    lease_seconds: float = Field(30.0, gt=0, description="lease length of a claim")
    retention_seconds: float = Field(7 * 86400, gt=0, description="keep finished jobs this long")
    events_maxlen: int = Field(100_000, ge=1000, description="approximate cap of the event stream")
    worker_offline_seconds: float = Field(15.0, gt=0, description="no heartbeat for this long")
    webhook_secret: str = Field("", description="HMAC-SHA256 secret for webhook signatures")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
