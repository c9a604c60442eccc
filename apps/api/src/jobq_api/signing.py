"""Webhook signatures: HMAC-SHA256 over ``"<timestamp>.<body>"``.

Each delivery carries ``X-Jobq-Timestamp`` (Unix seconds) and ``X-Jobq-Signature``
(``sha256=<hex digest>``). A receiver recomputes the digest with the shared secret
(``JOBQ_WEBHOOK_SECRET``) over the timestamp, a dot and the raw body, compares in
constant time, and refuses old timestamps (replays)::

    from jobq_api.signing import verify
    ok = verify(secret, request.headers["X-Jobq-Timestamp"], body,
                request.headers["X-Jobq-Signature"])
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Jobq-Timestamp"
SIGNATURE_HEADER = "X-Jobq-Signature"
PREFIX = "sha256="
#: Signatures older (or newer) than this many seconds are refused by :func:`verify`.
TOLERANCE = 300


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    """The ``X-Jobq-Signature`` value for ``body`` sent at ``timestamp``."""
    message = str(timestamp).encode() + b"." + body
    return PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> bool:
    """True if ``signature`` is the signature of ``body`` at ``timestamp`` and the timestamp
    is within ``tolerance`` seconds of ``now``."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers of one delivery (no signature without a secret)."""
    timestamp = str(int(time.time() if now is None else now))
    headers = {TIMESTAMP_HEADER: timestamp}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return headers
