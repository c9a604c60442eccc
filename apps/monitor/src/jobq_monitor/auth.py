"""Sign-in with an API key: signed session cookies and CSRF tokens.

A successful sign-in sets an HttpOnly, SameSite=Strict cookie holding a token signed
with itsdangerous (HMAC-SHA1 over a timestamped payload). The payload names the key by
an HMAC fingerprint (never the key itself) and a random nonce; removing the key from
``JOBQ_API_KEYS`` invalidates its sessions. The CSRF token of a session is an HMAC of
its nonce, sent back by every form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "jobq_monitor_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Session:
    """A signed-in browser session."""

    nonce: str
    csrf_token: str


class Sessions:
    """Issues and checks session tokens for a set of API keys."""

    def __init__(self, api_keys: Sequence[str], secret: bytes, *, max_age: float) -> None:
        """``max_age``: seconds a session lasts."""
        self._keys = [key.encode() for key in api_keys if key]
        self._secret = secret
        self.max_age = round(max_age)
        self._serializer = URLSafeTimedSerializer(secret, salt="jobq-monitor-session")
        self._fingerprints = {self._fingerprint(key) for key in self._keys}

    @property
    def configured(self) -> bool:
        """True when at least one API key can sign in."""
        return bool(self._keys)

    def _fingerprint(self, key: bytes) -> str:
        return hmac.new(self._secret, b"key:" + key, hashlib.sha256).hexdigest()[:32]

    def matching_key(self, candidate: str) -> bytes | None:
        """The configured key equal to ``candidate`` (compared in constant time), or None."""
        given = self._fingerprint(candidate.encode())  # fixed length: no length leak
        found = None
        for key in self._keys:
            if hmac.compare_digest(given, self._fingerprint(key)):
                found = key
        return found

    def issue(self, candidate: str) -> str | None:
        """A session token for the API key ``candidate``; None when the key is wrong."""
        key = self.matching_key(candidate)
        if key is None:
            return None
        return self._serializer.dumps({"k": self._fingerprint(key), "n": secrets.token_urlsafe(18)})

    def verify(self, token: str | None) -> Session | None:
        """The session of a cookie value; None when missing, forged, expired or revoked."""
        if not token:
            return None
        try:
            payload = self._serializer.loads(token, max_age=self.max_age)
        except BadSignature:
            return None
        if not isinstance(payload, dict):
            return None
        fingerprint, nonce = payload.get("k"), payload.get("n")
        if not isinstance(nonce, str) or fingerprint not in self._fingerprints:
            return None
        return Session(nonce=nonce, csrf_token=self._csrf(nonce))

    def _csrf(self, nonce: str) -> str:
        return hmac.new(self._secret, b"csrf:" + nonce.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session: Session, token: str | None) -> bool:
        """True when ``token`` is this session's CSRF token."""
        return token is not None and hmac.compare_digest(token, session.csrf_token)


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
