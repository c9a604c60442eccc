"""jobq: a Redis job broker for heterogeneous GPU fleets.

The public surface: the SDK (:class:`Client`, :class:`SyncClient`), the
:class:`Broker` the other components build on, the models and the errors.
"""

from importlib.metadata import version as _version

from jobq.broker import Broker, ClaimBatch, TickResult
from jobq.catalog import Catalog, JobType
from jobq.client import Client, JobFailed, SyncClient
from jobq.errors import (
    InvalidState,
    JobNotFound,
    JobqError,
    LeaseLost,
    MalformedJob,
    ValidationFailed,
    WorkflowNotFound,
)
from jobq.events import WaitTimeout
from jobq.matching import can_run, shape_of
from jobq.models import (
    ClaimedJob,
    Event,
    Job,
    JobSpec,
    JobStatus,
    Requirements,
    WorkerCapabilities,
    WorkflowSpec,
    WorkflowStatus,
)
from jobq.settings import CoreSettings

__version__ = _version("jobq-core")

__all__ = [
    "Broker",
    "Catalog",
    "ClaimBatch",
    "ClaimedJob",
    "Client",
    "CoreSettings",
    "Event",
    "InvalidState",
    "Job",
    "JobFailed",
    "JobNotFound",
    "JobSpec",
    "JobStatus",
    "JobType",
    "JobqError",
    "LeaseLost",
    "MalformedJob",
    "Requirements",
    "SyncClient",
    "TickResult",
    "ValidationFailed",
    "WaitTimeout",
    "WorkerCapabilities",
    "WorkflowNotFound",
    "WorkflowSpec",
    "WorkflowStatus",
    "__version__",
    "can_run",
    "shape_of",
]
