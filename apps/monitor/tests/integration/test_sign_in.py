"""Nothing is readable or actionable without signing in with an API key."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from jobq_monitor.auth import SESSION_COOKIE
from jobq_testing.monitor import MONITOR_API_KEY, csrf_token, sign_in

PAGES = ["/", "/queues", "/jobs", "/jobs/some-id", "/workflows", "/workflows/some-id", "/events"]
API = [
    "/api/overview", "/api/workers", "/api/queues", "/api/jobs", "/api/jobs/some-id",
    "/api/workflows", "/api/workflows/some-id", "/api/events",
]  # fmt: skip
ACTIONS = [
    "/actions/submit", "/actions/workflow", "/actions/jobs/some-id/cancel",
    "/actions/jobs/some-id/retry", "/signout",
]  # fmt: skip


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_the_sign_in_form(monitor_client: TestClient, path: str) -> None:
    response = monitor_client.get(path + "?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=" + path.replace("/", "%2F") + "%3Fx%3D1"
    partial = monitor_client.get(path, headers={"x-jobq-partial": "1"})
    assert partial.status_code == 401
    assert partial.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("path", API)
def test_the_json_api_answers_401(monitor_client: TestClient, path: str) -> None:
    response = monitor_client.get(path)
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "error": {"code": "UNAUTHORIZED", "message": "sign in with an API key first"},
    }


@pytest.mark.parametrize("path", ACTIONS)
def test_actions_need_a_session(monitor_client: TestClient, path: str) -> None:
    response = monitor_client.post(path, data={"csrf_token": "x"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")


def test_the_websocket_refuses_a_browser_without_a_session(monitor_client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as closed, monitor_client.websocket_connect("/ws"):
        pass
    assert closed.value.code == 4401


def test_a_forged_cookie_is_worth_nothing(monitor_client: TestClient) -> None:
    monitor_client.cookies.set(SESSION_COOKIE, '{"k": "admin", "n": "x"}')
    assert monitor_client.get("/api/overview").status_code == 401
    assert monitor_client.get("/").status_code == 303
    with pytest.raises(WebSocketDisconnect), monitor_client.websocket_connect("/ws"):
        pass


def test_a_wrong_key_is_refused_with_a_message(monitor_client: TestClient) -> None:
    response = monitor_client.post("/signin", data={"api_key": "wrong"})
    assert response.status_code == 401
    assert "That API key is not valid" in response.text
    assert 'aria-invalid="true"' in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert monitor_client.post("/signin", data={}).status_code == 401


def test_signing_in_sets_a_strict_http_only_cookie_and_goes_on(monitor_client: TestClient) -> None:
    form = monitor_client.get("/signin?next=/queues")
    assert form.status_code == 200
    assert 'name="next" value="/queues"' in form.text
    assert '<label for="api_key">API key</label>' in form.text
    response = monitor_client.post("/signin", data={"api_key": MONITOR_API_KEY, "next": "/queues"})
    assert response.status_code == 303
    assert response.headers["location"] == "/queues"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/" in cookie
    assert MONITOR_API_KEY not in cookie
    assert monitor_client.get("/queues").status_code == 200
    assert monitor_client.get("/signin?next=/jobs").headers["location"] == "/jobs"


def test_sign_in_never_redirects_off_site(monitor_client: TestClient) -> None:
    response = monitor_client.post(
        "/signin", data={"api_key": MONITOR_API_KEY, "next": "https://evil.example/"}
    )
    assert response.headers["location"] == "/"


def test_a_cross_site_sign_in_post_is_refused(monitor_client: TestClient) -> None:
    response = monitor_client.post(
        "/signin", data={"api_key": MONITOR_API_KEY}, headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 403


def test_actions_need_the_csrf_token_and_the_same_origin(signed_in_client: TestClient) -> None:
    client = signed_in_client
    missing = client.post("/actions/submit", data={})
    assert missing.status_code == 403
    assert "CSRF" in missing.text
    wrong = client.post("/actions/submit", data={"csrf_token": "guess"})
    assert wrong.status_code == 403
    token = csrf_token(client, "/jobs")
    cross = client.post(
        "/actions/submit", data={"csrf_token": token}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert client.post("/actions/submit", data={"csrf_token": token}).status_code == 303
    by_header = client.post("/actions/submit", headers={"x-csrf-token": token})
    assert by_header.status_code == 303


def test_the_websocket_refuses_a_cross_site_page(signed_in_client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect),
        signed_in_client.websocket_connect("/ws", headers={"origin": "https://evil.example"}),
    ):
        pass


def test_signing_out_ends_the_session(signed_in_client: TestClient) -> None:
    token = csrf_token(signed_in_client)
    response = signed_in_client.post("/signout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/signin"
    assert signed_in_client.get("/api/overview").status_code == 401


def test_public_routes_say_nothing_about_the_queues(monitor_client: TestClient) -> None:
    assert monitor_client.get("/health").text == "ok"
    css = monitor_client.get("/static/monitor.css")
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("cache-control", "")


def test_pages_carry_security_headers(signed_in_client: TestClient) -> None:
    response = signed_in_client.get("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_sign_in_with_the_second_of_several_keys(monitor_client: TestClient) -> None:
    sign_in(monitor_client)
    assert monitor_client.get("/api/overview").json()["success"] is True
