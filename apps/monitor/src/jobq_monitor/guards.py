"""Request guards (FastAPI dependencies): sign-in, CSRF and same-origin checks."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection

from jobq_monitor.app import SignInRequired, monitor_of
from jobq_monitor.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Session


def current_session(connection: HTTPConnection) -> Session | None:
    """The valid session of a request or WebSocket, if any."""
    return monitor_of(connection).sessions.verify(connection.cookies.get(SESSION_COOKIE))


async def require_session(request: Request) -> Session:
    """Dependency: the request's session; otherwise sign-in is required."""
    session = current_session(request)
    if session is None:
        raise SignInRequired()
    request.state.session = session
    return session


def same_origin(connection: HTTPConnection) -> bool:
    """False when the browser says the request comes from another site (``Origin``)."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True  # not a browser cross-origin request (browsers send Origin on POST/WS)
    host = connection.headers.get("host", "")
    return urlsplit(origin).netloc == host and origin != "null"


def refuse_cross_site(request: Request) -> None:
    """Dependency: 403 for a cross-site form post."""
    if not same_origin(request):
        raise HTTPException(403, "cross-site request refused")


async def require_csrf(request: Request) -> Session:
    """Dependency for actions: a signed-in, same-origin request with the session's
    CSRF token (form field ``csrf_token`` or header ``x-csrf-token``)."""
    session = await require_session(request)
    refuse_cross_site(request)
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        value = (await request.form()).get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not monitor_of(request).sessions.check_csrf(session, token):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return session


def json_api(request: Request) -> None:
    """Dependency: mark the request as a JSON API call (errors answered as JSON)."""
    request.state.json = True
