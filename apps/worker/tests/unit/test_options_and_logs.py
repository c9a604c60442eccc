"""Worker options, structured logs, backoff."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from jobq_worker.logs import JsonFormatter, configure_logging
from jobq_worker.options import WorkerOptions
from jobq_worker.transient import Backoff


def test_heartbeats_come_well_within_the_lease() -> None:
    assert WorkerOptions().effective_heartbeat(30) == 2.0
    assert WorkerOptions().effective_heartbeat(1.5) == 0.5
    assert WorkerOptions(heartbeat_interval=5).effective_heartbeat(30) == 5
    assert WorkerOptions(heartbeat_interval=5).effective_heartbeat(4) == 2


@pytest.mark.parametrize(
    "bad", [{"concurrency": 0}, {"max_result_bytes": 10**9}, {"grace": 1}, {"poll_interval": 0}]
)
def test_bad_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WorkerOptions.model_validate(bad)


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in ("jobq", "jobq_worker")
        for logger in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


@pytest.mark.usefixtures("restore_loggers")
def test_a_log_line_is_one_json_object_with_the_extras() -> None:
    stream = io.StringIO()
    configure_logging("debug", static={"worker_id": "w1"}, stream=stream)
    log = logging.getLogger("jobq_worker.test")
    log.info("job failed", extra={"job_id": "j1", "retryable": True})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("crashed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "job failed"
    assert (first["level"], first["logger"]) == ("info", "jobq_worker.test")
    assert (first["worker_id"], first["job_id"], first["retryable"]) == ("w1", "j1", True)
    assert first["ts"].endswith("+00:00")
    assert "RuntimeError: boom" in second["exception"]
    configure_logging("warning", stream=stream)
    assert logging.getLogger("jobq_worker").level == logging.WARNING


def test_formatter_writes_values_json_cannot_hold_as_text() -> None:
    record = logging.makeLogRecord({"msg": "x", "levelname": "INFO", "path": object()})
    assert json.loads(JsonFormatter().format(record))["path"].startswith("<object")


def test_backoff_grows_to_its_maximum_and_resets() -> None:
    backoff = Backoff(initial=0.1, maximum=0.4)
    pauses = [backoff.next() for _ in range(5)]
    assert 0.075 <= pauses[0] <= 0.125
    assert all(0.3 <= p <= 0.5 for p in pauses[2:])
    backoff.reset()
    assert backoff.next() <= 0.125
