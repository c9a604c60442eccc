"""What every connector shares: the call signature, options, errors, the job payload."""

from __future__ import annotations

from typing import Any, Protocol, Self

from pydantic import BaseModel, ConfigDict

from jobq_worker.context import JobContext
from jobq_worker.errors import PermanentError


class Connector(Protocol):
    """An async handler: ``await connector(ctx)`` runs the job and returns its result."""

    async def __call__(self, ctx: JobContext) -> dict[str, Any]: ...


class ConnectorOptions(BaseModel):
    """Base of every connector's options: unknown keys are an error (typos show)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ConnectorError(Exception):
    """The remote service failed in a way a retry may fix (5xx, timeout, lost connection)."""


class RemoteRejected(PermanentError):
    """The remote service refused the job (4xx, invalid workflow): retrying cannot help."""


def job_payload(ctx: JobContext) -> dict[str, Any]:
    """The job as sent to remote services."""
    return {
        "job_id": ctx.id,
        "type": ctx.type,
        "prompt": ctx.prompt,
        "parameters": ctx.parameters,
        "metadata": ctx.job.metadata,
    }


def as_object(value: Any) -> dict[str, Any]:
    """A JSON value as a result object (non-objects go under ``"value"``)."""
    return value if isinstance(value, dict) else {"value": value}


class FromOptions:
    """Mixin: ``from_options(dict)`` validates the options model named ``Options``."""

    Options: type[ConnectorOptions]

    def __init__(self, options: Any) -> None:
        self.options = options

    @classmethod
    def from_options(cls, raw: dict[str, Any]) -> Self:
        """Build from raw (config file) options."""
        return cls(cls.Options.model_validate(raw))
