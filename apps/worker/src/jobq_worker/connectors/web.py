"""A lazily created httpx client shared by the connectors that speak HTTP, and the
one place where an HTTP answer becomes a result or a retryable/permanent error."""

from __future__ import annotations

from typing import Any

import httpx

from jobq_worker.connectors.base import ConnectorError, RemoteRejected

#: 4xx answers that a later attempt may not get (timeouts, rate limits).
RETRYABLE_STATUS = frozenset({408, 425, 429})


class WebClient:
    """An ``httpx.AsyncClient`` made on first use (so on the event loop that uses it)."""

    def __init__(self, *, headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        self.headers = dict(headers or {})
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The connection pool."""
        if self._client is None:
            self._client = httpx.AsyncClient(headers=self.headers, timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def request(self, method: str, url: str, **kwargs: Any) -> Any:
        """One request; its decoded JSON answer. Raises :class:`ConnectorError`
        (retryable) or :class:`RemoteRejected` (not)."""
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ConnectorError(f"{method} {url}: {type(exc).__name__}: {exc}") from None
        return decode(response)


def decode(response: httpx.Response) -> Any:
    """The JSON body of a successful answer; an error saying what went wrong otherwise."""
    where = f"{response.request.method} {response.request.url}"
    if response.status_code >= 400:
        message = f"{where} answered {response.status_code}: {response.text[:500]}"
        if response.status_code >= 500 or response.status_code in RETRYABLE_STATUS:
            raise ConnectorError(message)
        raise RemoteRejected(message)
    try:
        return response.json()
    except ValueError:
        raise ConnectorError(f"{where} answered with something that is not JSON") from None
