"""Models, stored-record decoding, keys, settings and error mapping."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from redis.exceptions import ResponseError

from jobq import codec
from jobq.errors import ERROR_CODES, InvalidState, JobqError, MalformedJob, from_response_error
from jobq.functions import library
from jobq.keys import Keys
from jobq.models import TERMINAL_STATUSES, JobStatus, WorkflowStepSpec, ms_to_datetime
from jobq.settings import CoreSettings

RECORD = {
    "id": "j1",
    "type": "simulation",
    "status": "failed",
    "priority": "50",
    "seq": "1",
    "shape": "s",
    "data": '{"prompt": null, "parameters": {"a": 1}, "requirements": {"capabilities": []}}',
    "created_at": "1700000000000",
    "completed_at": "1700000001000",
    "progress": "40",
    "attempts": '[{"attempt": 1, "error": "boom", "worker_id": "w", "at": 1700000000500}]',
    "error": "boom",
    "timeout_ms": "1500",
    "parents": '["p1"]',
    "step_index": "2",
    "workflow_id": "wf",
}


def test_job_from_hash() -> None:
    job = codec.job_from_hash(RECORD)
    assert job.status is JobStatus.FAILED
    assert job.is_terminal
    assert job.parameters == {"a": 1}
    assert job.timeout == 1.5
    assert job.depends_on == ["p1"]
    assert job.attempts[0].error == "boom"
    assert job.step_index == 2
    assert job.started_at is None


@pytest.mark.parametrize(
    "broken",
    [{"status": "exploded"}, {"data": "{nope"}, {"priority": "high"}, {"attempts": "[{}]"}],
)
def test_malformed_records_raise_malformed_job(broken: dict[str, str]) -> None:
    with pytest.raises(MalformedJob, match="job record j1 is malformed"):
        codec.job_from_hash({**RECORD, **broken})


def test_event_from_entry() -> None:
    event = codec.event_from_entry(
        "1700000000123-0", {"type": "job_progress", "job_id": "j", "data": '{"progress": 5}'}
    )
    assert event.timestamp == ms_to_datetime(1700000000123)
    assert event.to_message() == {
        "type": "job_progress",
        "event_id": "1700000000123-0",
        "timestamp": event.timestamp.isoformat(),
        "job_id": "j",
        "progress": 5,
    }
    assert codec.event_from_entry("1-0", {"data": "[1]"}).data == {"value": [1]}


def test_keys_share_one_hash_tag() -> None:
    keys = Keys("tenant-a")
    names = keys.lua_names()
    every = [*names.values(), keys.job("x"), keys.queue("s"), keys.webhook_log("x")]
    assert all(k.startswith("jobq:{tenant-a}:") for k in every)
    assert len(set(names.values())) == 17
    assert keys.function_keys() == ["jobq:{tenant-a}:"]
    assert keys.index_status(JobStatus.PENDING) == "jobq:{tenant-a}:idx:status:pending"
    with pytest.raises(ValueError, match="invalid namespace"):
        Keys("has space")


def test_every_lua_error_code_maps_to_one_exception() -> None:
    lua = (files("jobq") / "lua" / "_base.lua").read_text()
    table = lua[lua.index("local ERR = {") : lua.index("}", lua.index("local ERR = {"))]
    codes = set(re.findall(r"(\w+) = '(\w+)'", table))
    assert codes
    assert all(a == b for a, b in codes)
    assert {code for code, _ in codes} <= set(ERROR_CODES)
    mapped = from_response_error(ResponseError("INVALID_STATE job x is already completed"))
    assert isinstance(mapped, InvalidState)
    assert mapped.message == "job x is already completed"
    assert mapped.http_status == 409
    other = ResponseError("OOM command not allowed")
    assert from_response_error(other) is other
    assert issubclass(ERROR_CODES["JOB_NOT_FOUND"], JobqError)


def test_every_registered_function_documents_keys_argv_and_returns() -> None:
    source = library().source
    registered = re.findall(r"redis\.register_function\('(\w+)', (\w+)\)", source)
    assert len(registered) >= 12
    for name, callback in registered:
        header = source[: source.index(f"local function {callback}(")].rsplit("\n\n", 1)[-1]
        for word in ("KEYS", "ARGV", "Returns"):
            assert word in header, f"{name}: header lacks {word}"


def test_library_is_assembled_helpers_first() -> None:
    lib = library()
    assert lib.files[0].startswith("_")
    assert lib.source.startswith("#!lua name=jobq\n")
    assert f"return '{lib.version}'" in lib.source


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBQ_API_KEYS", " k1, k2 ,")
    monkeypatch.setenv("JOBQ_NAMESPACE", "east")
    settings = CoreSettings()
    assert settings.api_keys == ["k1", "k2"]
    assert settings.namespace == "east"
    assert CoreSettings(api_keys=["a"]).api_keys == ["a"]


def test_status_sets_and_step_parents() -> None:
    assert JobStatus.COMPLETED in TERMINAL_STATUSES
    assert WorkflowStepSpec(type="x", depends_on=3).parent_indices() == [3]
    assert WorkflowStepSpec(type="x", depends_on=[2, 1, 2]).parent_indices() == [1, 2]


def test_function_errors_lose_the_lua_location() -> None:
    from redis.exceptions import ResponseError

    from jobq.errors import InvalidState, from_response_error

    error = from_response_error(
        ResponseError(
            "INVALID_STATE job j is completed, not pending "
            "script: jobq_cancel, on @user_function:12."
        )
    )
    assert isinstance(error, InvalidState)
    assert error.message == "job j is completed, not pending"
