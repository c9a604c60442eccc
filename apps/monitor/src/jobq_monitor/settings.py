"""Monitor settings: the core's ``JOBQ_*`` settings plus the dashboard's own."""

from __future__ import annotations

import hashlib

from pydantic import Field

from jobq.settings import CoreSettings


class MonitorSettings(CoreSettings):
    """Settings of ``jobq monitor``. Each field reads ``JOBQ_<NAME>``.

    Sign-in uses the API keys (``JOBQ_API_KEYS``); the session cookie is signed with
    ``JOBQ_MONITOR_SECRET``, or, when that is unset, with a secret derived from the API
    keys (so several monitor processes with the same keys accept each other's sessions,
    and changing the keys ends every session).
    """

    monitor_host: str = Field("127.0.0.1", description="address `jobq monitor` listens on")
    monitor_port: int = Field(8001, ge=1, le=65535, description="port `jobq monitor` listens on")
    monitor_secret: str = Field("", description="secret that signs session cookies")
    monitor_session_hours: float = Field(
        12.0, gt=0, le=24 * 30, description="a sign-in lasts this long"
    )

    def session_secret(self) -> bytes:
        """The secret that signs session cookies and CSRF tokens."""
        if self.monitor_secret:
            return self.monitor_secret.encode()
        material = "\0".join(["jobq-monitor-session", *sorted(self.api_keys)])
        return hashlib.sha256(material.encode()).digest()
