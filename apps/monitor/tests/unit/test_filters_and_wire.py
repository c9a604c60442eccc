"""Query parameter parsing and the wire format of events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jobq.errors import ValidationFailed
from jobq.models import Event, JobStatus
from jobq_monitor.filters import DEFAULT_LIMIT, JobFilters, job_filters
from jobq_monitor.wire import check_event_id


def test_empty_filters_mean_any() -> None:
    assert job_filters("", "", "", "") == JobFilters()
    assert job_filters(None, None, None, None) == JobFilters()


def test_filters_are_parsed_and_round_trip_to_a_query() -> None:
    filters = job_filters("failed", "text-to-image", "42", "10")
    assert filters == JobFilters(JobStatus.FAILED, "text-to-image", "42", 10)
    assert filters.query() == {"status": "failed", "type": "text-to-image", "limit": "10"}
    assert filters.query(cursor="7")["cursor"] == "7"
    assert JobFilters(limit=DEFAULT_LIMIT).query() == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bogus", None, None, None), "status 'bogus' is not one of"),
        ((None, "bad type!", None, None), "is not a job type name"),
        ((None, None, "12abc", None), "cursor"),
        ((None, None, None, "0"), "limit must be a number from 1 to"),
        ((None, None, None, "9999"), "limit"),
        ((None, None, None, "ten"), "limit"),
    ],
)
def test_bad_filters_are_validation_errors(
    args: tuple[str | None, str | None, str | None, str | None], message: str
) -> None:
    with pytest.raises(ValidationFailed, match="validation failed") as caught:
        job_filters(*args)
    assert message in caught.value.message


def test_event_ids_are_checked() -> None:
    assert check_event_id(None) is None
    assert check_event_id("1700000000000-3") == "1700000000000-3"
    for bad in ("", "$", "12", "1-2-3", "abc-1", "1-"):
        with pytest.raises(ValidationFailed, match="since must be an event id"):
            check_event_id(bad)


def _event(kind: str, data: dict[str, object], **ids: str) -> Event:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    return Event(event_id="1-0", type=kind, timestamp=when, data=data, **ids)  # type: ignore[arg-type]


def test_event_data_cannot_overwrite_the_event_type() -> None:
    message = _event(
        "job_submitted", {"type": "simulation", "priority": 50}, job_id="j1"
    ).to_message()
    assert message["type"] == "job_submitted"
    assert message["priority"] == 50
    assert message["job_id"] == "j1"
    assert message["event_id"] == "1-0"
    assert message["timestamp"].startswith("2025-01-02T03:04:05")


def test_subject_ids_in_the_data_do_not_shadow_the_event_s_own() -> None:
    message = _event(
        "worker_connected", {"worker_id": "w1", "pool_type": "heavy"}, worker_id="w1"
    ).to_message()
    assert message == {
        "type": "worker_connected",
        "event_id": "1-0",
        "timestamp": "2025-01-02T03:04:05+00:00",
        "worker_id": "w1",
        "pool_type": "heavy",
    }
