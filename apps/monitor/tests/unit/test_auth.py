"""Session tokens, CSRF tokens and redirect targets."""

from __future__ import annotations

import time

import pytest

from jobq_monitor.auth import Sessions, safe_next

SECRET = b"s" * 32


def test_a_right_key_gets_a_session_a_wrong_one_does_not() -> None:
    sessions = Sessions(["alpha", "beta"], SECRET, max_age=60)
    assert sessions.configured
    token = sessions.issue("beta")
    assert token is not None
    assert "beta" not in token  # the key never travels in the cookie
    session = sessions.verify(token)
    assert session is not None
    assert sessions.check_csrf(session, session.csrf_token)
    assert sessions.issue("gamma") is None
    assert sessions.issue("") is None
    assert sessions.matching_key("alpha") == b"alpha"


def test_forged_tampered_and_foreign_tokens_are_refused() -> None:
    sessions = Sessions(["alpha"], SECRET, max_age=60)
    token = sessions.issue("alpha")
    assert token is not None
    assert sessions.verify(None) is None
    assert sessions.verify("") is None
    assert sessions.verify("not-a-token") is None
    assert sessions.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    other = Sessions(["alpha"], b"another secret", max_age=60)
    assert other.verify(token) is None
    forged = other.issue("alpha")
    assert sessions.verify(forged) is None


def test_removing_a_key_ends_its_sessions() -> None:
    before = Sessions(["alpha", "beta"], SECRET, max_age=60)
    token = before.issue("alpha")
    after = Sessions(["beta"], SECRET, max_age=60)
    assert after.verify(token) is None
    assert after.verify(before.issue("beta")) is not None


def test_sessions_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = Sessions(["alpha"], SECRET, max_age=60)
    token = sessions.issue("alpha")
    assert sessions.verify(token) is not None
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    assert sessions.verify(token) is None


def test_payloads_of_the_wrong_shape_are_refused() -> None:
    sessions = Sessions(["alpha"], SECRET, max_age=60)
    serializer = sessions._serializer
    assert sessions.verify(serializer.dumps(["a", "list"])) is None
    assert sessions.verify(serializer.dumps({"k": "whatever", "n": "x"})) is None
    assert sessions.verify(serializer.dumps({"n": 5})) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    sessions = Sessions(["alpha"], SECRET, max_age=60)
    one = sessions.verify(sessions.issue("alpha"))
    two = sessions.verify(sessions.issue("alpha"))
    assert one is not None
    assert two is not None
    assert one.csrf_token != two.csrf_token
    assert not sessions.check_csrf(one, two.csrf_token)
    assert not sessions.check_csrf(one, None)


def test_no_keys_means_nobody_signs_in() -> None:
    sessions = Sessions([], SECRET, max_age=60)
    assert not sessions.configured
    assert sessions.issue("") is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/jobs?status=failed", "/jobs?status=failed"),
        ("/", "/"),
        (None, "/home"),
        ("", "/home"),
        ("https://evil.example/", "/home"),
        ("//evil.example/", "/home"),
        ("/\\evil.example", "/home"),
        ("jobs", "/home"),
    ],
)
def test_only_local_paths_are_redirect_targets(target: str | None, expected: str) -> None:
    assert safe_next(target, "/home") == expected
