"""Mounted under a prefix in another app; Redis unreachable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.testclient import TestClient

from jobq_monitor import MonitorSettings, create_app
from jobq_testing.monitor import MONITOR_API_KEY
from jobq_testing.net import free_port


def test_mounted_under_a_prefix_every_link_and_the_cookie_follow_it(
    monitor_settings: MonitorSettings,
) -> None:
    monitor = create_app(monitor_settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await monitor.state.monitor.close()  # a mounted app's own lifespan does not run

    host = FastAPI(lifespan=lifespan)
    host.mount("/monitor", monitor)
    with TestClient(host, follow_redirects=False) as client:
        first = client.get("/monitor/queues")
        assert first.status_code == 303
        assert first.headers["location"] == "/monitor/signin?next=%2Fmonitor%2Fqueues"
        form = client.get("/monitor/signin").text
        assert 'action="/monitor/signin"' in form
        assert 'href="/monitor/static/monitor.css' in form
        signed = client.post("/monitor/signin", data={"api_key": MONITOR_API_KEY})
        assert signed.headers["location"] == "/monitor/"
        assert "path=/monitor" in signed.headers["set-cookie"].lower()
        page = client.get("/monitor/")
        assert page.status_code == 200
        assert 'href="/monitor/jobs"' in page.text
        assert 'data-ws="/monitor/ws"' in page.text
        assert client.get("/monitor/api/overview").json()["success"] is True
        with client.websocket_connect("/monitor/ws") as ws:
            ws.send_json({"type": "ping"})
            assert ws.receive_json() == {"type": "pong"}


def test_redis_unreachable_is_a_503_not_a_500(monitor_settings: MonitorSettings) -> None:
    settings = monitor_settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        assert client.post("/signin", data={"api_key": MONITOR_API_KEY}).status_code == 303
        page = client.get("/")
        assert page.status_code == 503
        assert "Redis is not reachable" in page.text
        api = client.get("/api/overview")
        assert api.status_code == 503
        assert api.json()["error"]["code"] == "REDIS_UNAVAILABLE"
