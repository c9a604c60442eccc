"""Settings, template helpers, app construction and the command (no Redis needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from jobq.cli import main
from jobq.models import Event, Requirements
from jobq_monitor import MonitorSettings, create_app
from jobq_monitor.app import _ago, _since, _when, describe_requirements, event_detail


def test_the_session_secret_is_explicit_or_derived_from_the_keys() -> None:
    explicit = MonitorSettings(api_keys=["a"], monitor_secret="shh")
    assert explicit.session_secret() == b"shh"
    one = MonitorSettings(api_keys=["a", "b"]).session_secret()
    assert one == MonitorSettings(api_keys=["b", "a"]).session_secret()
    assert one != MonitorSettings(api_keys=["a"]).session_secret()
    assert len(one) == 32


def test_api_keys_come_from_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBQ_API_KEYS", "one, two")
    monkeypatch.setenv("JOBQ_MONITOR_PORT", "9100")
    settings = MonitorSettings()
    assert settings.api_keys == ["one", "two"]
    assert settings.monitor_port == 9100


def test_the_app_refuses_to_start_without_a_key() -> None:
    with pytest.raises(ValueError, match="JOBQ_API_KEYS"):
        create_app(MonitorSettings(api_keys=[]))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "never"),
        (0.2, "just now"),
        (12, "12 s ago"),
        (600, "10 min ago"),
        (7200, "2.0 h ago"),
        (3 * 86400, "3.0 d ago"),
    ],
)
def test_ages_read_naturally(seconds: float | None, text: str) -> None:
    assert _ago(seconds) == text


def test_times_are_shown_in_utc() -> None:
    moment = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert _when(moment) == "2025-05-06 07:08:09 UTC"
    assert _when(None) == "—"
    assert _since(None) == "—"
    assert _since(datetime.now(UTC) - timedelta(seconds=30)).endswith("s ago")


def test_requirements_are_described_by_what_constrains_matching() -> None:
    assert describe_requirements(Requirements()) == [("any worker", "no requirements")]
    full = Requirements(
        capabilities=["b", "a"], gpu_memory=24, model_type="sdxl", pool_preference="heavy",
        pool_strict=True, customer_id="acme", isolation="dedicated", service="svc",
        expected_duration=30,
    )  # fmt: skip
    assert dict(describe_requirements(full)) == {
        "capabilities": "a, b",
        "GPU memory": "≥ 24 GB",
        "model": "sdxl",
        "pool": "heavy (strict)",
        "customer": "acme (dedicated)",
        "service": "svc",
        "expected": "30 s",
    }


@pytest.mark.parametrize(
    ("kind", "data", "text"),
    [
        ("job_submitted", {"job_type": "upscale", "priority": 70}, "upscale · priority 70"),
        ("job_progress", {"progress": 40}, "40 %"),
        ("job_progress", {"progress": 40, "message": "step 2"}, "40 % · step 2"),
        ("job_failed", {"error": "boom", "will_retry": True}, "boom · will retry"),
        ("job_failed", {"error": "boom", "will_retry": False}, "boom · final"),
        ("job_cancelled", {"reason": "by hand"}, "by hand"),
        ("worker_disconnected", {"reason": "heartbeat timeout"}, "heartbeat timeout"),
        ("workflow_failed", {"error": "step 2 failed"}, "step 2 failed"),
        ("job_completed", {"result": {"x": 1}}, ""),
    ],
)
def test_event_details_summarize_the_data(kind: str, data: dict[str, Any], text: str) -> None:
    event = Event(event_id="1-0", type=kind, timestamp=datetime.now(UTC), data=data)
    assert event_detail(event) == text


def test_the_monitor_command_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBQ_API_KEYS", raising=False)
    result = CliRunner().invoke(main, ["monitor"])
    assert result.exit_code == 1
    assert "JOBQ_API_KEYS is empty" in result.output


def test_the_monitor_command_serves_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served: dict[str, Any] = {}
    monkeypatch.setenv("JOBQ_API_KEYS", "k")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    result = CliRunner().invoke(main, ["monitor", "--port", "9123", "--host", "10.1.2.3"])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("10.1.2.3", 9123)
    assert served["app"].title == "jobq monitor"
    result = CliRunner().invoke(main, ["monitor"])
    assert (served["host"], served["port"]) == ("127.0.0.1", 8001)
