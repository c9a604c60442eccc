"""Webhook signatures: HMAC-SHA256 over ``timestamp + "." + body``."""

from __future__ import annotations

import hashlib
import hmac

from jobq_api.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signed_headers,
    verify,
)

BODY = b'{"type":"job_completed","job_id":"j1"}'


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1700000000, BODY) == "sha256=" + expected
    assert sign("s3cret", "1700000000", BODY) == sign("s3cret", 1700000000, BODY)


def test_verify_accepts_the_right_signature_within_the_tolerance() -> None:
    signature = sign("s3cret", 1700000000, BODY)
    assert verify("s3cret", "1700000000", BODY, signature, now=1700000100)
    assert not verify("s3cret", "1700000000", BODY, signature, now=1700000301)  # too old
    assert not verify("other", "1700000000", BODY, signature, now=1700000000)
    assert not verify("s3cret", "1700000001", BODY, signature, now=1700000000)
    assert not verify("s3cret", "1700000000", BODY + b" ", signature, now=1700000000)
    assert not verify("s3cret", "not-a-number", BODY, signature, now=1700000000)


def test_signed_headers_carry_the_timestamp_and_sign_only_with_a_secret() -> None:
    headers = signed_headers("s3cret", BODY, now=1700000000.7)
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    assert verify(
        "s3cret", headers[TIMESTAMP_HEADER], BODY, headers[SIGNATURE_HEADER], now=1700000000
    )
    assert signed_headers("", BODY, now=1700000000) == {TIMESTAMP_HEADER: "1700000000"}
