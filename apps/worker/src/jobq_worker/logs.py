"""Structured logs: one JSON object per line, with the worker and job ids as fields.

logger.info("job failed", extra={"job_id": job.id, "error": "..."}) gives
{"ts": "...", "level": "info", "logger": "jobq_worker", "message": "job failed",
 "worker_id": "w1", "job_id": "...", "error": "..."}
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

#: Attributes every LogRecord has; anything else on a record came in through ``extra``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as a single-line JSON object (extras become fields)."""

    def __init__(self, static: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON: ts, level, logger, message, the static fields, the extras."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **self.static,
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure_logging(
    level: str = "INFO",
    *,
    static: dict[str, Any] | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send the ``jobq_worker`` and ``jobq`` loggers to ``stream`` (stderr) as JSON lines.

    ``static`` fields (e.g. ``{"worker_id": "w1"}``) are added to every line.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(static))
    for name in ("jobq_worker", "jobq"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    return handler
