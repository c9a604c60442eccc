"""Fixtures for the jobq API: in-process apps and clients, live servers, ``jobq api``
processes, a WebSocket client and a webhook receiver.

- ``api_settings``: :class:`~jobq_api.settings.ApiSettings` on the test's Redis and
  namespace, key :data:`API_KEY`, webhook secret :data:`WEBHOOK_SECRET`, fast retries.
- ``api_app`` / ``api_client``: the app, and an ``httpx.AsyncClient`` calling it in
  process (ASGI transport, lifespan run; the key is sent by default).
- ``api_server``: the app served by uvicorn in the test's event loop on a free port
  (for WebSockets); ``make_api_server(**overrides)`` for several; ``api_thread_server``:
  served from a thread with its own loop (for synchronous clients).
- ``api_process`` / ``api_process_factory``: real ``jobq api`` processes on free ports
  (:class:`ApiProcess`: ``stop()``, ``kill()``, ``restart()``, ``log``).
- :func:`ws_connect` / :class:`WsClient`: a WebSocket client (the ``websockets`` library)
  that subscribes and collects events.
- ``webhook_receiver``: a real HTTP server in a thread that records every request and can
  be told to answer 500 a number of times (:class:`WebhookReceiver`).
- :class:`KeepAliveClient`: a minimal keep-alive HTTP/1.1 load generator for benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import pytest_asyncio

from jobq.settings import CoreSettings
from jobq_testing.net import LOCALHOST, free_port, wait_for_port

if TYPE_CHECKING:
    from fastapi import FastAPI
    from websockets.asyncio.client import ClientConnection

    from jobq_api.settings import ApiSettings

API_KEY = "api-test-key"
WEBHOOK_SECRET = "webhook-test-secret"
#: Seconds a test waits for something that should happen promptly.
WAIT = 15.0


# ---------------------------------------------------------------------- settings & app
@pytest.fixture
def api_settings(core_settings: CoreSettings) -> ApiSettings:
    """API settings on the test's Redis and namespace (fast webhook retries)."""
    from jobq_api.settings import ApiSettings

    return ApiSettings(
        **core_settings.model_dump(exclude={"api_keys", "webhook_secret"}),
        api_keys=[API_KEY],
        webhook_secret=WEBHOOK_SECRET,
        api_webhook_backoff=0.2,
        api_webhook_backoff_max=2.0,
        api_webhook_timeout=5.0,
        api_webhook_reclaim_seconds=2.0,
    )


@pytest.fixture
def api_app(api_settings: ApiSettings) -> FastAPI:
    """The API app (not started: ``api_client`` runs its lifespan)."""
    from jobq_api.app import create_app

    return create_app(api_settings)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run an app's lifespan (startup, then shutdown on exit)."""
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def in_process_client(
    app: FastAPI, *, api_key: str | None = API_KEY
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling ``app`` in process, with the app's lifespan running."""
    headers = {"x-api-key": api_key} if api_key else {}
    transport = httpx.ASGITransport(app=app)
    async with (
        running(app),
        httpx.AsyncClient(transport=transport, base_url="http://jobq", headers=headers) as client,
    ):
        yield client


@pytest_asyncio.fixture
async def api_client(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of ``api_app`` that sends :data:`API_KEY`."""
    async with in_process_client(api_app) as client:
        yield client


# ---------------------------------------------------------------------- live servers
@dataclass
class LiveApi:
    """An API served over TCP: its URLs and (in process) its app."""

    url: str
    app: FastAPI | None = None

    @property
    def ws_url(self) -> str:
        """The ``ws://`` URL of ``/ws``."""
        return self.url.replace("http://", "ws://", 1) + "/ws"

    def client(self, *, api_key: str | None = API_KEY) -> httpx.AsyncClient:
        """A new httpx client of this server (close it, or use ``async with``)."""
        headers = {"x-api-key": api_key} if api_key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=WAIT)


@asynccontextmanager
async def serve(app: FastAPI, *, port: int | None = None) -> AsyncIterator[LiveApi]:
    """Serve ``app`` with uvicorn in this event loop until the block exits."""
    import uvicorn

    from jobq_api.cli import WS_IMPLEMENTATION, ApiServer

    port = port or free_port()
    config = uvicorn.Config(
        app, host=LOCALHOST, port=port, log_level="warning", lifespan="on", ws=WS_IMPLEMENTATION
    )
    server = ApiServer(config, before_shutdown=app.state.jobq.stop)
    task = asyncio.create_task(server.serve(sockets=None))
    deadline = time.monotonic() + WAIT
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn exited before it started")
        if time.monotonic() > deadline:
            raise TimeoutError(f"uvicorn did not start on port {port}")
        await asyncio.sleep(0.01)
    try:
        yield LiveApi(url=f"http://{LOCALHOST}:{port}", app=app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)


ServerFactory = Callable[..., Awaitable[LiveApi]]


@pytest_asyncio.fixture
async def make_api_server(api_settings: ApiSettings) -> AsyncIterator[ServerFactory]:
    """A factory of in-loop uvicorn servers: ``await make_api_server(api_ws_buffer=20)``
    (settings overrides). Each is stopped after the test."""
    from jobq_api.app import create_app

    async with contextlib.AsyncExitStack() as stack:

        async def factory(**overrides: Any) -> LiveApi:
            app = create_app(api_settings.model_copy(update=overrides))
            return await stack.enter_async_context(serve(app))

        yield factory


@pytest_asyncio.fixture
async def api_server(make_api_server: ServerFactory) -> LiveApi:
    """The API served by uvicorn in the test's event loop on a free port."""
    return await make_api_server()


@contextlib.contextmanager
def serve_in_thread(app: FastAPI, *, port: int | None = None) -> Iterator[LiveApi]:
    """Serve ``app`` with uvicorn in a thread with its own event loop (for synchronous
    clients such as schemathesis) until the block exits."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host=LOCALHOST, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="jobq-api-test-server", daemon=True)
    thread.start()
    try:
        wait_for_port(port, timeout=WAIT, alive=thread.is_alive)
        yield LiveApi(url=f"http://{LOCALHOST}:{port}", app=app)
    finally:
        server.should_exit = True
        thread.join(WAIT)


@pytest.fixture
def api_thread_server(api_settings: ApiSettings) -> Iterator[LiveApi]:
    """The API served by uvicorn in a background thread (its own event loop)."""
    from jobq_api.app import create_app

    with serve_in_thread(create_app(api_settings)) as live:
        yield live


# ---------------------------------------------------------------------- processes
@dataclass
class ApiProcess:
    """A ``jobq api`` child process on a fixed port; restartable on the same port."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The ``ws://`` URL of ``/ws``."""
        return f"ws://{LOCALHOST}:{self.port}/ws"

    @property
    def log(self) -> str:
        """Everything the process wrote (all its runs)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def start(self, *, timeout: float = 30.0) -> ApiProcess:
        """Start it and wait until ``/health`` answers."""
        assert not self.alive(), "already running"
        self.starts += 1
        command = [sys.executable, "-m", "jobq.cli", "api", "--host", LOCALHOST]
        command += ["--port", str(self.port)]
        with self.log_path.open("ab") as log:
            log.write(f"---- start {self.starts}\n".encode())
            log.flush()
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        try:
            wait_for_port(self.port, timeout=timeout, alive=self.alive)
            self._wait_healthy(timeout)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"jobq api did not start: {exc}\n{self.log[-4000:]}") from None
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2) as probe:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if probe.get("/ready").status_code == 200:
                        return
                if not self.alive():
                    raise RuntimeError("the process exited")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {timeout} s")
                time.sleep(0.05)

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Send ``sig`` (default: graceful SIGTERM) and wait; the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> int | None:
        """SIGKILL: no shutdown at all (a crash)."""
        return self.stop(sig=signal.SIGKILL)

    def restart(self) -> ApiProcess:
        """Stop (if running) and start again on the same port."""
        self.stop()
        return self.start()

    def client(self, *, api_key: str | None = API_KEY) -> httpx.AsyncClient:
        """A new httpx client of this process."""
        return LiveApi(self.url).client(api_key=api_key)


@pytest.fixture
def api_env(core_settings: CoreSettings) -> dict[str, str]:
    """Environment for ``jobq api`` processes on the test's Redis and namespace."""
    return {
        **os.environ,
        "JOBQ_REDIS_URL": core_settings.redis_url,
        "JOBQ_NAMESPACE": core_settings.namespace,
        "JOBQ_API_KEYS": API_KEY,
        "JOBQ_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "JOBQ_API_WEBHOOK_BACKOFF": "0.2",
        "JOBQ_API_WEBHOOK_BACKOFF_MAX": "2",
        "JOBQ_API_WEBHOOK_TIMEOUT": "5",
        "JOBQ_API_WEBHOOK_RECLAIM_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",
    }


ProcessFactory = Callable[..., ApiProcess]


@pytest.fixture
def api_process_factory(api_env: dict[str, str], tmp_path: Path) -> Iterator[ProcessFactory]:
    """Start ``jobq api`` processes: ``api_process_factory(JOBQ_API_WS_BUFFER="50")``
    (extra environment). All are stopped after the test."""
    started: list[ApiProcess] = []

    def factory(**env: str) -> ApiProcess:
        name = f"api-{len(started)}.log"
        process = ApiProcess(env={**api_env, **env}, log_path=tmp_path / name)
        started.append(process)
        return process.start()

    yield factory
    for process in started:
        process.stop()


@pytest.fixture
def api_process(api_process_factory: ProcessFactory) -> ApiProcess:
    """A running ``jobq api`` process on the test's Redis and namespace."""
    return api_process_factory()


# ---------------------------------------------------------------------- WebSocket client
class WsClient:
    """A WebSocket client of ``/ws`` that speaks the subscription protocol."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.received: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message."""
        await self.connection.send(json.dumps(message))

    async def receive(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next message other than a keepalive ping."""
        while True:
            raw = await asyncio.wait_for(self.connection.recv(), timeout)
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") == "ping":
                continue
            self.received.append(message)
            return message

    async def subscribe(
        self, kind: str = "all", target: str | None = None, *, since: str | None = None
    ) -> dict[str, Any]:
        """Subscribe (``kind``: job, workflow or all) and return the server's ack."""
        message: dict[str, Any] = {"type": f"subscribe_{kind}"}
        if target is not None:
            message["job_id" if kind == "job" else "workflow_id"] = target
        if since is not None:
            message["since"] = since
        await self.send(message)
        ack = await self.receive()
        assert ack.get("type") == "subscribed", ack
        return ack

    async def events(
        self,
        count: int | None = None,
        *,
        until: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = WAIT,
    ) -> list[dict[str, Any]]:
        """Collect events until ``count`` were received or one satisfies ``until``."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"got {len(found)} events: {[e.get('type') for e in found]}")
            message = await self.receive(timeout=remaining)
            found.append(message)
            if count is not None and len(found) >= count:
                return found
            if until is not None and until(message):
                return found

    async def close(self) -> None:
        """Close the connection."""
        await self.connection.close()

    async def closed_by_server(self, timeout: float = WAIT) -> tuple[int, str]:
        """Read (and drop) messages until the server closes; its close code and reason."""
        from websockets.exceptions import ConnectionClosed

        deadline = time.monotonic() + timeout
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the server did not close the connection")
                await asyncio.wait_for(self.connection.recv(), remaining)
        except ConnectionClosed as closed:
            frame = closed.rcvd
        if frame is None:
            raise AssertionError("the connection ended without a close frame")
        return frame.code, frame.reason


@asynccontextmanager
async def ws_connect(
    url: str, *, api_key: str | None = API_KEY, in_query: bool = False
) -> AsyncIterator[WsClient]:
    """Connect to ``/ws`` with the key in the ``x-api-key`` header (or, with ``in_query``,
    in the ``api_key`` query parameter)."""
    from websockets.asyncio.client import connect

    headers = {}
    if api_key is not None and in_query:
        url = f"{url}?api_key={api_key}"
    elif api_key is not None:
        headers["x-api-key"] = api_key
    async with connect(url, additional_headers=headers, open_timeout=WAIT) as connection:
        yield WsClient(connection)


# ---------------------------------------------------------------------- webhook receiver
@dataclass
class ReceivedRequest:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class WebhookReceiver:
    """A local HTTP server (in a thread) that records requests and answers 200, or 500 for
    the next N requests after :meth:`fail_next`."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._failures = 0
        self._failure_status = 500
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver._answer()
                receiver._record(
                    ReceivedRequest(
                        "POST", self.path, dict(self.headers.items()), body, status, time.time()
                    )
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The URL to give as ``webhook_url`` (path ``/hook``)."""
        return f"http://{LOCALHOST}:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` requests with ``status``."""
        with self._lock:
            self._failures = count
            self._failure_status = status

    def _answer(self) -> int:
        with self._lock:
            if self._failures > 0:
                self._failures -= 1
                return self._failure_status
            return 200

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def delivered(self) -> list[ReceivedRequest]:
        """Requests answered with 200."""
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    async def wait_for(
        self, predicate: Callable[[list[ReceivedRequest]], bool], *, timeout: float = WAIT
    ) -> list[ReceivedRequest]:
        """Wait until ``predicate(all requests)`` holds; return the requests."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = list(self.requests)
            if predicate(seen):
                return seen
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver got {len(seen)} requests: {seen!r}"[:2000])
            await asyncio.sleep(0.02)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running :class:`WebhookReceiver`."""
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


# ---------------------------------------------------------------------- load generator
class KeepAliveClient:
    """A minimal HTTP/1.1 client over a fixed set of persistent connections, to generate
    load: httpx spends more CPU per request than the server under test, so with httpx a
    benchmark would measure its own client."""

    def __init__(self, url: str, headers: dict[str, str], connections: int) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self._address = (host, int(port))
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._size = connections
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
        self._idle = asyncio.Queue()

    async def __aenter__(self) -> KeepAliveClient:
        for _ in range(self._size):
            self._idle.put_nowait(await asyncio.open_connection(*self._address))
        return self

    async def __aexit__(self, *exc: object) -> None:
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Send one request on an idle connection; (status, JSON body)."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\n{self._headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        reader, writer = await self._idle.get()
        try:
            writer.write(head.encode() + payload)
            status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
            fields = dict(line.lower().split(": ", 1) for line in lines if ": " in line)
            data = await reader.readexactly(int(fields["content-length"]))
        except BaseException:
            writer.close()
            raise
        self._idle.put_nowait((reader, writer))
        return int(status_line.split()[1]), json.loads(data)
