"""API-key authentication: the ``x-api-key`` header (or ``api_key`` query parameter on the
WebSocket), checked against ``JOBQ_API_KEYS`` in constant time.

HTTP requests are checked by :class:`ApiKeyMiddleware` (one cheap check before any
routing; a FastAPI dependency per route cost about a tenth of a status read), WebSockets
by their endpoint. :data:`SECURITY_SCHEME` documents the key in the OpenAPI document.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from jobq_api.errors import ApiError, error_response

API_KEY_HEADER = "x-api-key"
API_KEY_QUERY = "api_key"
_HEADER = API_KEY_HEADER.encode()

#: Paths served without a key: probes and the API's documentation.
PUBLIC_PATHS = frozenset({"/health", "/ready"})

#: The OpenAPI security scheme (``components.securitySchemes``).
SECURITY_SCHEME_NAME = "APIKeyHeader"
SECURITY_SCHEME: dict[str, Any] = {
    "type": "apiKey",
    "in": "header",
    "name": API_KEY_HEADER,
    "description": "One of the keys in JOBQ_API_KEYS.",
}


class KeyRing:
    """The accepted API keys. An empty ring accepts nothing."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [key.encode() for key in keys if key]

    def __bool__(self) -> bool:
        return bool(self._keys)

    def accepts(self, candidate: str | None) -> bool:
        """True if ``candidate`` is one of the keys (every key is compared, in constant time)."""
        if not candidate:
            return False
        given = candidate.encode("utf-8", "surrogateescape")
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(given, key)
        return matched


def unauthorized(given: str | None) -> ApiError:
    """The 401 error for a missing or a wrong key."""
    if not given:
        return ApiError("UNAUTHORIZED", "missing API key: send it in the x-api-key header")
    return ApiError("UNAUTHORIZED", "invalid API key")


class ApiKeyMiddleware:
    """ASGI middleware: an HTTP request to anything but :data:`PUBLIC_PATHS` needs a valid
    ``x-api-key`` header, else 401 in the error envelope."""

    def __init__(self, app: ASGIApp, keys: KeyRing) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in PUBLIC_PATHS:
            given = None
            for name, value in scope["headers"]:
                if name == _HEADER:
                    given = value.decode("latin-1")
                    break
            if not self.keys.accepts(given):
                error = unauthorized(given)
                response = error_response(
                    error.code, error.message, headers={"WWW-Authenticate": "ApiKey"}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def document_security(schema: dict[str, Any]) -> None:
    """Add the key to an OpenAPI document: the scheme, and on every non-public operation."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME_NAME] = SECURITY_SCHEME
    for path, operations in schema.get("paths", {}).items():
        if path in PUBLIC_PATHS:
            continue
        for operation in operations.values():
            operation["security"] = [{SECURITY_SCHEME_NAME: []}]
