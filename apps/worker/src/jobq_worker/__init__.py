"""jobq-worker: the worker runtime, its connectors and capability detection.

:class:`Worker` claims the jobs its capabilities allow and runs them with handlers
registered per job type (``@worker.handler("upscale")``); :class:`JobContext` is what a
handler receives. ``jobq worker`` (:mod:`jobq_worker.cli`) runs one from a config file
and flags.
"""

from importlib.metadata import version as _version

from jobq_worker.context import JobContext
from jobq_worker.errors import ConfigError, JobCancelled, PermanentError, ResultTooLarge
from jobq_worker.execution import Stats
from jobq_worker.options import WorkerOptions
from jobq_worker.worker import Worker

__version__ = _version("jobq-worker")

__all__ = [
    "ConfigError",
    "JobCancelled",
    "JobContext",
    "PermanentError",
    "ResultTooLarge",
    "Stats",
    "Worker",
    "WorkerOptions",
    "__version__",
]
