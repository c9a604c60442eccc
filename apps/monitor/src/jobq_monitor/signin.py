"""Sign-in and sign-out pages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from jobq_monitor.app import Links, monitor_of
from jobq_monitor.auth import SESSION_COOKIE, safe_next
from jobq_monitor.guards import current_session, refuse_cross_site, require_csrf

router = APIRouter()


def _render(request: Request, *, next_url: str, error: str | None, status: int = 200) -> Response:
    monitor = monitor_of(request)
    return monitor.templates.TemplateResponse(
        request,
        "signin.html",
        {
            "url": Links(request),
            "title": "Sign in",
            "next_url": next_url,
            "error": error,
            "configured": monitor.sessions.configured,
        },
        status_code=status,
    )


def _cookie_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") or "/"


@router.get("/signin", name="signin")
async def signin_page(request: Request) -> Response:
    """The sign-in form (or straight on when already signed in)."""
    home = Links(request)("fleet")
    next_url = safe_next(request.query_params.get("next"), home)
    if current_session(request) is not None:
        return RedirectResponse(next_url, status_code=303)
    return _render(request, next_url=next_url, error=None)


@router.post("/signin", name="signin_submit", dependencies=[Depends(refuse_cross_site)])
async def signin_submit(request: Request) -> Response:
    """Check the API key; on success set the session cookie and go on."""
    form = await request.form()
    key = form.get("api_key")
    raw_next = form.get("next")
    next_url = safe_next(raw_next if isinstance(raw_next, str) else None, Links(request)("fleet"))
    sessions = monitor_of(request).sessions
    token = sessions.issue(key) if isinstance(key, str) and key else None
    if token is None:
        return _render(
            request, next_url=next_url, error="That API key is not valid. Check it and try again.",
            status=401,
        )  # fmt: skip
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(sessions.max_age),
        path=_cookie_path(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signout", name="signout", dependencies=[Depends(require_csrf)])
async def signout(request: Request) -> Response:
    """End the session."""
    response = RedirectResponse(Links(request)("signin"), status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path=_cookie_path(request), httponly=True, samesite="strict"
    )
    return response
