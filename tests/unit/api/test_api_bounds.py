"""Attacks on `medic serve`'s API that must be refused before work is done (issue 12, items 9 and 10).

- bodies: an unauthenticated request is answered 401 before a byte of its body is read, and an
  authenticated one is cut at MEDIC_SERVE__MAX_BODY_BYTES (413), declared or streamed;
- ids, offsets and limits past PostgreSQL's bigint answer 422, not 500 (OverflowError).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.settings import load_settings
from workers.api.app import create_app

WRITE_TOKEN = "write-token-0123456789abcdef"
TOKENS = {"oncall": {"token": WRITE_TOKEN, "access": "write"}}
AUTH = {"Authorization": f"Bearer {WRITE_TOKEN}"}
MAX_BODY_BYTES = 65_536
TOO_BIG = 2**63  # one past PostgreSQL's bigint


@pytest.fixture
def app(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'medic.db'}", broker_url="memory://",
                             serve={"tokens": TOKENS, "allow_writes": True, "max_body_bytes": MAX_BODY_BYTES})
    return create_app(settings)


@pytest.fixture
def http(app):
    return TestClient(app, raise_server_exceptions=False)


def call(app, method: str, path: str, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, int]:
    """One request straight through ASGI: (status, how many body chunks the app asked for)."""
    pulled = 0
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled <= len(chunks):
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8080)}
    asyncio.run(app(scope, receive, send))
    return status[0], pulled


@pytest.mark.parametrize("path", ["/api/executions/1/retry", "/api/alerts/1/acknowledge", "/api/dead/1/replay"])
def test_an_unauthenticated_body_is_answered_401_before_it_is_read(app, path):
    chunk = b'{"reason": "' + b"x" * 65_000
    status, pulled = call(app, "POST", path, {"content-type": "application/json",
                                              "content-length": str(len(chunk) * 1_000)}, [chunk] * 1_000)
    assert status == 401
    assert pulled == 0


def test_a_declared_body_over_the_cap_is_413_unread(app):
    status, pulled = call(app, "POST", "/api/executions/1/retry",
                          {**AUTH, "content-type": "application/json", "content-length": str(80 * 2**20)},
                          [b"{" + b" " * 65_000])
    assert status == 413
    assert pulled == 0


def test_a_streamed_body_over_the_cap_is_cut_at_the_cap(app):
    chunks = [b'{"reason": "'] + [b"x" * 16_384] * 1_000
    status, pulled = call(app, "POST", "/api/executions/1/retry",
                          {**AUTH, "content-type": "application/json", "transfer-encoding": "chunked"}, chunks)
    assert status == 413
    assert pulled <= MAX_BODY_BYTES // 16_384 + 2


def test_a_body_under_the_cap_still_reaches_the_route(http):
    answer = http.post("/api/executions/1/retry", headers=AUTH, json={"reason": "ok " * 100})
    assert answer.status_code in (404, 503), answer.text  # past the body checks: the route ran


@pytest.mark.parametrize("path", [
    f"/api/groups/{TOO_BIG}", f"/api/alerts/{TOO_BIG}", f"/api/executions/{TOO_BIG}", f"/api/dead/{TOO_BIG}",
    f"/api/groups?offset={TOO_BIG}", f"/api/alerts?offset={TOO_BIG}", f"/api/executions?offset={TOO_BIG}",
    f"/api/dead?offset={TOO_BIG}", f"/api/groups?limit={TOO_BIG}", f"/api/executions?group_id={TOO_BIG}",
    f"/api/groups/{-TOO_BIG - 1}", f"/api/groups/{10**30}",
])
def test_ids_offsets_and_limits_past_bigint_are_422(http, path):
    answer = http.get(path, headers=AUTH)
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("path", [f"/api/executions/{TOO_BIG}/retry", f"/api/executions/{TOO_BIG}/cancel",
                                  f"/api/dead/{TOO_BIG}/replay", f"/api/alerts/{TOO_BIG}/acknowledge"])
def test_write_routes_validate_their_ids_too(http, path):
    answer = http.post(path, headers=AUTH, json={})
    assert answer.status_code == 422, answer.text
