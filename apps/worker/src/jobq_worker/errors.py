"""What handlers raise to tell the worker how an attempt ended."""

from __future__ import annotations


class PermanentError(Exception):
    """The job cannot succeed, however often it is retried (bad input, a 4xx answer).

    The worker fails the job for good instead of spending its retries.
    """


class JobCancelled(Exception):
    """Raised by :meth:`jobq_worker.JobContext.raise_if_cancelled` in a sync handler whose
    job was cancelled, timed out, lost its lease or is being handed back on shutdown."""


class ResultTooLarge(PermanentError):
    """A handler's result is larger than the worker's ``max_result_bytes``."""


class ConfigError(ValueError):
    """A worker configuration file, flag or connector option is invalid."""
