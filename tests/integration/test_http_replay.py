"""replay_http against a real local HTTP server (tests/support/httpserver.py), scripted per test."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import httpx
import pytest

from config.settings import load_settings
from tests.support.httpserver import respond
from workers.intake.contract import HttpTarget
from workers.recovery.http_replay import BODY_PREVIEW_CHARS, replay_http

pytestmark = [pytest.mark.integration, pytest.mark.timeout(10)]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def utc_now() -> datetime:
    return datetime.now(UTC)


def target(url: str, **fields) -> HttpTarget:
    return HttpTarget(kind="http", url=url, **fields)


def replay(http_target: HttpTarget, key: str = "exec-1-attempt-1", **kwargs):
    """Replayed with the target's own origin allowed, for every method (MEDIC_REPLAY_HTTP__ALLOW)."""
    url = httpx.URL(http_target.url)
    allow = [f"GET,HEAD,POST,PUT,PATCH,DELETE {url.scheme}://{url.host}:{url.port}"]
    return replay_http(http_target, idempotency_key=key, now=utc_now,
                       settings=load_settings(replay_http={"allow": allow}), **kwargs)


def test_200_with_json_body_succeeds(http_server):
    http_server.script("/orders", respond(200, body={"id": 42}))
    result = replay(target(http_server.url("/orders")))
    assert result.outcome == "success" and result.error is None
    assert result.detail == {"status": 200, "body_preview": '{"id": 42}'}


@pytest.mark.parametrize(
    ("method", "body", "expected_body", "content_type"),
    [
        ("POST", {"order": 1, "items": ["a"]}, {"order": 1, "items": ["a"]}, "application/json"),
        ("PUT", [1, 2], [1, 2], "application/json"),
        ("PATCH", "plain text", "plain text", None),
        ("DELETE", None, None, None),
        ("GET", None, None, None),
    ],
)
def test_method_body_and_headers_arrive_as_sent(http_server, method, body, expected_body, content_type):
    http_server.script("/things/9", 200)
    http_target = target(http_server.url("/things/9?page=2"), method=method, body=body, headers={"X-Trace": "t-1"})
    assert replay(http_target, key="key-123").outcome == "success"
    [received] = http_server.requests("/things/9")
    assert received.method == method
    sent = received.json() if content_type else (received.body.decode() or None)
    assert sent == expected_body
    assert received.headers.get("Content-Type") == content_type
    assert received.headers["X-Trace"] == "t-1"
    assert received.idempotency_key == "key-123"
    assert received.headers["User-Agent"].startswith("medic")


def test_idempotency_key_is_stable_across_replays(http_server):
    http_server.script("/pay", 503, 200)
    http_target = target(http_server.url("/pay"))
    assert [replay(http_target, key="exec-5").outcome for _ in range(2)] == ["retryable", "success"]
    assert http_server.idempotency_keys("/pay") == ["exec-5", "exec-5"]


def test_the_targets_own_idempotency_key_is_kept(http_server):
    http_server.script("/csv", 200)
    replay(target(http_server.url("/csv"), headers={"idempotency-key": "theirs", "Content-Type": "text/csv"},
                  body="a,b"))
    [received] = http_server.requests("/csv")
    assert [value for name, value in received.headers.items() if name.lower() == "idempotency-key"] == ["theirs"]
    assert (received.headers["Content-Type"], received.body) == ("text/csv", b"a,b")


def test_503_with_retry_after_is_retryable_after_that_delay(http_server):
    http_server.script("/busy", respond(503, {"Retry-After": "2"}, "maintenance"))
    result = replay(target(http_server.url("/busy")))
    assert (result.outcome, result.retry_after_s, result.error) == ("retryable", 2.0, "HTTP 503 Service Unavailable")
    assert result.detail["status"] == 503


def test_400_is_permanent(http_server):
    http_server.script("/bad", respond(400, body={"error": "bad field"}))
    result = replay(target(http_server.url("/bad"), body={"x": 1}))
    assert (result.outcome, result.error) == ("permanent", "HTTP 400 Bad Request")
    assert result.detail == {"status": 400, "body_preview": '{"error": "bad field"}'}


def test_redirects_are_not_followed(http_server):
    http_server.script("/here", respond(302, {"Location": http_server.url("/elsewhere")}))
    http_server.script("/elsewhere", 200)
    result = replay(target(http_server.url("/here")))
    assert (result.outcome, result.error) == ("permanent", "HTTP 302 Found")
    assert http_server.calls("/elsewhere") == 0


def test_body_preview_is_short_and_masked(http_server):
    http_server.script("/oops", respond(500, body={"password": "hunter2", "pad": "x" * 10_000}))
    result = replay(target(http_server.url("/oops")))
    assert result.outcome == "retryable"
    assert len(result.detail["body_preview"]) <= BODY_PREVIEW_CHARS
    assert "hunter2" not in result.detail["body_preview"]


def test_a_slow_server_is_a_timeout(http_server):
    http_server.script("/slow", respond(200, delay_s=1.0))
    result = replay(target(http_server.url("/slow"), timeout_s=0.2))
    assert result.outcome == "timeout"
    assert "ReadTimeout" in result.error


def test_a_closed_port_is_a_retryable_network_error(closed_port):
    result = replay(target(f"http://127.0.0.1:{closed_port}/x", timeout_s=1))
    assert result.outcome == "retryable"
    assert result.error.startswith(f"POST http://127.0.0.1:{closed_port}/x: ConnectError")


def test_credentials_in_the_url_never_reach_the_error(closed_port):
    http_target = target(f"http://user:secret@127.0.0.1:{closed_port}/x?token=abc", timeout_s=1,
                         headers={"Authorization": "Bearer hdr-credential"})
    result = replay(http_target)
    assert result.outcome == "retryable"
    for secret in ("secret", "abc", "hdr-credential"):
        assert secret not in result.error
        assert secret not in json.dumps(result.detail)


