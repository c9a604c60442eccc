"""The monitor's FastAPI application: :func:`create_app`.

Standalone (``jobq monitor``) or mounted in another app::

    api.mount("/monitor", create_app(settings, broker=broker))

A mounted app's lifespan does not run, so the broker is created on first use when
none is given; pass the host app's broker to share its connection pool.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection

from jobq.broker import Broker
from jobq.errors import JobqError
from jobq.models import Event, Requirements
from jobq_monitor import __version__
from jobq_monitor.auth import Sessions
from jobq_monitor.settings import MonitorSettings

HERE = Path(__file__).parent
PARTIAL_HEADER = "x-jobq-partial"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class SignInRequired(Exception):
    """The request carries no valid session."""


class Monitor:
    """Per-application state (kept on ``app.state.monitor``, never in module globals)."""

    def __init__(self, settings: MonitorSettings, broker: Broker | None) -> None:
        self.settings = settings
        self.sessions = Sessions(
            settings.api_keys,
            settings.session_secret(),
            max_age=settings.monitor_session_hours * 3600,
        )
        self.templates = make_templates()
        self._broker = broker
        self._owns_broker = broker is None
        self._lock: asyncio.Lock | None = None

    async def broker(self) -> Broker:
        """The broker (created and connected on first use when none was given)."""
        if self._broker is not None:
            return self._broker
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._broker is None:
                broker = Broker.from_url(settings=self.settings)
                await broker.connect()
                self._broker = broker
        return self._broker

    async def close(self) -> None:
        """Close the broker if this monitor created it."""
        if self._owns_broker and self._broker is not None:
            await self._broker.close()
            self._broker = None


def monitor_of(connection: HTTPConnection) -> Monitor:
    """The :class:`Monitor` of the app serving this request or WebSocket."""
    monitor: Monitor = connection.app.state.monitor
    return monitor


# ---------------------------------------------------------------------- templates
def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 1:
        return "just now"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} d ago"


def _since(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return _ago((datetime.now(UTC) - moment).total_seconds())


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def event_detail(event: Event) -> str:
    """A short human summary of an event's data (the page's script mirrors this)."""
    data = event.data
    kind = event.type
    text = ""
    if kind == "job_submitted":
        text = f"{data.get('job_type', '')} · priority {data.get('priority', '')}"
    elif kind == "job_progress":
        text = f"{data.get('progress', '')} %"
        if data.get("message"):
            text += f" · {data['message']}"
    elif kind == "job_failed":
        text = str(data.get("error", ""))[:120]
        text += " · will retry" if data.get("will_retry") else " · final"
    elif kind in ("job_cancelled", "job_released", "worker_disconnected"):
        text = str(data.get("reason", ""))
    elif kind == "workflow_failed":
        text = str(data.get("error", ""))[:120]
    return text


def describe_requirements(req: Requirements) -> list[tuple[str, str]]:
    """The requirements that constrain matching, as (label, value) pairs."""
    parts: list[tuple[str, str]] = []
    if req.capabilities:
        parts.append(("capabilities", ", ".join(req.capabilities)))
    if req.gpu_memory:
        parts.append(("GPU memory", f"≥ {req.gpu_memory:g} GB"))
    if req.model_type:
        parts.append(("model", req.model_type))
    if req.pool_preference:
        strict = " (strict)" if req.pool_strict else ""
        parts.append(("pool", req.pool_preference + strict))
    if req.customer_id:
        parts.append(("customer", f"{req.customer_id} ({req.isolation})"))
    if req.service:
        parts.append(("service", req.service))
    if req.expected_duration is not None:
        parts.append(("expected", f"{req.expected_duration:g} s"))
    return parts or [("any worker", "no requirements")]


def make_templates() -> Jinja2Templates:
    """The Jinja2 templates with the monitor's filters."""
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.filters.update(
        ago=_ago, since=_since, when=_when, clock=_clock, pretty=_pretty,
        requirements=describe_requirements, event_detail=event_detail,
        short=lambda value: str(value)[:8],
    )  # fmt: skip
    env.globals["version"] = __version__
    return templates


class Links:
    """URL paths of the app's routes, with the mount prefix (``root_path``)."""

    def __init__(self, request: HTTPConnection) -> None:
        self._app: FastAPI = request.app
        self._root = str(request.scope.get("root_path", "")).rstrip("/")

    def __call__(self, name: str, query: dict[str, Any] | None = None, **params: Any) -> str:
        path = self._root + str(self._app.url_path_for(name, **params))
        if query:
            kept = {k: v for k, v in query.items() if v not in (None, "")}
            if kept:
                path += "?" + urlencode(kept)
        return path


# ---------------------------------------------------------------------- errors
def wants_html(request: Request) -> bool:
    """True for a full page request (not the JSON API, not a live partial refresh)."""
    return not getattr(request.state, "json", False) and PARTIAL_HEADER not in request.headers


def error_body(code: str, message: str) -> dict[str, Any]:
    """The error envelope shared with the jobq API."""
    return {"success": False, "error": {"code": code, "message": message}}


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    """An error as JSON (API, partials) or as a page."""
    if not wants_html(request):
        return JSONResponse(error_body(code, message), status_code=status)
    monitor = monitor_of(request)
    referer = urlsplit(request.headers.get("referer", ""))
    back = None
    if referer.netloc == request.headers.get("host") and referer.path:
        back = referer.path + (f"?{referer.query}" if referer.query else "")
    context = {
        "status": status, "code": code, "message": message, "url": Links(request),
        "title": f"Error {status}", "back": back,
    }  # fmt: skip
    return monitor.templates.TemplateResponse(request, "error.html", context, status_code=status)


async def _on_sign_in_required(request: Request, exc: Exception) -> Response:
    if not wants_html(request):
        return JSONResponse(
            error_body("UNAUTHORIZED", "sign in with an API key first"), status_code=401
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(Links(request)("signin", query={"next": target}), status_code=303)


async def _on_jobq_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JobqError)
    return error_response(request, exc.http_status, exc.code, exc.message)


async def _on_bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    where = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
        for err in exc.errors()
    )
    return error_response(request, 400, "VALIDATION_ERROR", f"validation failed: {where}")


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 403: "FORBIDDEN"}.get(
        exc.status_code, "HTTP_ERROR"
    )
    return error_response(request, exc.status_code, code, str(exc.detail))


async def _on_redis_down(request: Request, exc: Exception) -> Response:
    return error_response(
        request, 503, "REDIS_UNAVAILABLE", f"Redis is not reachable right now: {exc}"
    )


# ---------------------------------------------------------------------- the app
def create_app(settings: MonitorSettings | None = None, *, broker: Broker | None = None) -> FastAPI:
    """The monitor app. ``settings`` default to ``JOBQ_*``; ``broker`` to one made from them.

    Raises :class:`ValueError` when no API key is configured: nobody could sign in.
    """
    from jobq_monitor import actions, api, live, pages, signin

    settings = settings or MonitorSettings()
    if not settings.api_keys:
        raise ValueError("the monitor needs at least one API key (JOBQ_API_KEYS) to sign in with")
    monitor = Monitor(settings, broker)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await monitor.close()

    app = FastAPI(
        title="jobq monitor",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.monitor = monitor
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (signin, pages, api, actions, live):
        app.include_router(module.router)
    app.add_exception_handler(SignInRequired, _on_sign_in_required)
    app.add_exception_handler(JobqError, _on_jobq_error)
    app.add_exception_handler(RequestValidationError, _on_bad_request)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RedisConnectionError, _on_redis_down)
    app.add_exception_handler(RedisTimeoutError, _on_redis_down)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        static = request.url.path.startswith(Links(request)("static", path=""))
        response = await call_next(request)  # (routing rewrites the scope's root_path)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not static:
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/health", include_in_schema=False)
    async def health() -> HTMLResponse:
        """Liveness (public; says nothing about the queues)."""
        return HTMLResponse("ok")

    return app
