"""The error table and the validation messages."""

from __future__ import annotations

from jobq.errors import ERROR_CODES
from jobq.events import WaitTimeout
from jobq_api.auth import KeyRing, unauthorized
from jobq_api.errors import HTTP_STATUS, clean_message, describe_request_errors, status_of


def test_every_core_error_code_has_its_http_status_in_the_table() -> None:
    for code, cls in {**ERROR_CODES, WaitTimeout.code: WaitTimeout}.items():
        assert HTTP_STATUS[code] == cls.http_status, code
    assert status_of("JOB_NOT_FOUND") == 404
    assert status_of("VALIDATION_ERROR") == 400
    assert status_of("UNAUTHORIZED") == 401
    assert status_of("PAYLOAD_TOO_LARGE") == 413
    assert status_of("SOMETHING_NEW") == 500


def test_validation_messages_name_the_field() -> None:
    errors = [
        {"loc": ("body", "priority"), "msg": "Input should be less than or equal to 100"},
        {"loc": ("body", "steps", 1, "depends_on"), "msg": "Input should be a valid integer"},
        {"loc": ("query", "limit"), "msg": "Input should be greater than or equal to 1"},
    ]
    assert describe_request_errors(errors) == (
        "validation failed: priority: Input should be less than or equal to 100; "
        "steps.1.depends_on: Input should be a valid integer; "
        "query parameter limit: Input should be greater than or equal to 1"
    )


def test_body_level_errors_say_what_the_body_must_be() -> None:
    invalid_json = {"type": "json_invalid", "loc": ("body", 7), "ctx": {"error": "Expecting value"}}
    assert describe_request_errors([invalid_json]) == (
        "validation failed: body: invalid JSON at position 7: Expecting value"
    )
    missing = {"type": "missing", "loc": ("body",), "msg": "Field required"}
    assert "a JSON object is required" in describe_request_errors([missing])
    not_object = {"type": "model_attributes_type", "loc": ("body",), "msg": "..."}
    assert "must be a JSON object" in describe_request_errors([not_object])


def test_the_lua_location_is_cut_from_core_messages() -> None:
    raw = "job j1 is completed; cannot cancel script: jobq_cancel, on @user_function:42."
    assert clean_message(raw) == "job j1 is completed; cannot cancel"
    assert clean_message("Job not found: j1") == "Job not found: j1"


def test_the_key_ring_accepts_only_its_keys() -> None:
    ring = KeyRing(["alpha", "", "beta"])
    assert ring
    assert ring.accepts("alpha")
    assert ring.accepts("beta")
    assert not ring.accepts("alph")
    assert not ring.accepts("")
    assert not ring.accepts(None)
    assert not ring.accepts("\udcff")  # undecodable header bytes
    assert not KeyRing([])
    assert not KeyRing([]).accepts("alpha")
    assert "missing" in unauthorized(None).message
    assert unauthorized("x").message == "invalid API key"
