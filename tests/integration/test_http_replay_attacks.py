"""Attacks on HTTP replays (issue 12, items 1, 2 and 4), each against real local servers.

An event names the replay's URL, method and headers, and anyone who can publish `medic.report`
may be the attacker: what medic sends, where, and what it keeps of the answer must be the
operator's choice (MEDIC_REPLAY_HTTP__ALLOW, MEDIC_REPLAY_HTTP_HEADERS).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from config.settings import load_settings
from tests.support import recovery
from tests.support.httpserver import respond
from tests.support.recovery import http_target, make_event, plan, report, retry_step, write_plans
from tests.support.replay_http import allow_http
from workers.intake.contract import HttpTarget
from workers.recovery.http_replay import replay_http

pytestmark = [pytest.mark.integration, pytest.mark.timeout(20)]

PARTNER_SECRET = "Bearer partner-credential-7f3a9c"
METADATA = "ami-id\ninstance-id\niam/security-credentials/role: AKIAEXAMPLE"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with its own headers as JSON: a partner that echoes what it got."""

    def _echo(self) -> None:
        body = json.dumps(dict(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _echo

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def replay(url: str, *, allow: list[str] | None = None, credentials: dict | None = None, resolve=None,
           **fields: Any):
    settings = load_settings(replay_http={"allow": allow or []}, replay_http_headers=credentials or {})
    return replay_http(HttpTarget(kind="http", url=url, **fields), idempotency_key="medic-execution-1",
                       now=lambda: datetime.now(UTC), settings=settings, resolve=resolve)


def stored(result) -> str:
    """Everything of the attempt that medic stores and serves: its error and its detail."""
    return f"{result.error} {json.dumps(result.detail)}"


# --- item 1: SSRF with the answer readable


def test_a_replay_to_an_address_nobody_allowed_is_not_sent(http_server):
    http_server.script("/latest/meta-data/iam", respond(200, body=METADATA))
    result = replay(http_server.url("/latest/meta-data/iam"), method="GET")
    assert result.outcome == "permanent"
    assert f"destination http://127.0.0.1:{http_server.port} is not in MEDIC_REPLAY_HTTP__ALLOW" in result.error
    assert http_server.calls("/latest/meta-data/iam") == 0
    assert "body_preview" not in result.detail and "AKIA" not in stored(result)


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "017700000001", "127.1", "[::ffff:127.0.0.1]",
                                  "[::ffff:7f00:1]", "localhost"])
def test_other_spellings_of_an_allowed_address_are_refused(http_server, host):
    http_server.script("/x", respond(200, body=METADATA))
    result = replay(f"http://{host}:{http_server.port}/x", allow=[f"http://127.0.0.1:{http_server.port}"])
    assert result.outcome == "permanent" and result.error.startswith("refused:")
    assert http_server.calls("/x") == 0


def test_a_name_resolving_to_loopback_is_refused_even_when_the_name_is_allowed(http_server):
    http_server.script("/x", 200)
    port = http_server.port
    result = replay(f"http://partner.test:{port}/x", allow=[f"http://partner.test:{port}", f"http://*.test:{port}"],
                    resolve=lambda host, port: [ipaddress.ip_address("127.0.0.1")])
    assert result.outcome == "permanent" and "127.0.0.1, a loopback address" in result.error
    assert http_server.calls("/x") == 0


def test_one_non_public_address_among_the_resolved_refuses_the_replay(http_server):
    http_server.script("/x", 200)
    port = http_server.port
    rebinding = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("127.0.0.1")]
    result = replay(f"http://partner.test:{port}/x", allow=[f"http://partner.test:{port}"],
                    resolve=lambda host, port: rebinding)
    assert result.outcome == "permanent" and "loopback" in result.error
    assert http_server.calls("/x") == 0


def test_the_connection_goes_to_the_address_checked_and_the_host_header_keeps_the_name(http_server):
    """partner.test is resolved once, by medic; nothing else could connect it (it is not in DNS)."""
    http_server.script("/x", respond(200, body="ok"))
    port = http_server.port
    lookups: list[str] = []

    def resolve(host: str, port: int):
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    result = replay(f"http://partner.test:{port}/x", resolve=resolve,
                    allow=[f"http://partner.test:{port}", f"http://127.0.0.1:{port}"])
    assert result.outcome == "success", result.error
    assert lookups == ["partner.test"]
    (request,) = http_server.requests("/x")
    assert request.headers["Host"] == f"partner.test:{port}"


def test_an_allowed_address_is_replayed_and_its_preview_masked(http_server):
    http_server.script("/x", respond(200, body="password=hunter2 and more"))
    result = replay(http_server.url("/x"), allow=[f"http://127.0.0.1:{http_server.port}"])
    assert result.outcome == "success"
    assert "hunter2" not in result.detail["body_preview"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_methods_that_change_or_remove_must_be_listed(http_server, method):
    http_server.script("/x", 200)
    result = replay(http_server.url("/x"), allow=[f"http://127.0.0.1:{http_server.port}"], method=method,
                    body={"drop": "everything"})
    assert result.outcome == "permanent" and f"method {method}" in result.error
    assert http_server.calls("/x") == 0
    listed = replay(http_server.url("/x"), allow=[f"POST,{method} http://127.0.0.1:{http_server.port}"],
                    method=method)
    assert listed.outcome == "success" and http_server.calls("/x") == 1


# --- item 2: partner credentials go anywhere on a trusted host


def test_credentials_of_a_bare_host_never_travel_over_plain_http(http_server):
    http_server.script("/x", 200)
    port = http_server.port
    result = replay(http_server.url("/x"), allow=[f"http://127.0.0.1:{port}"],
                    credentials={f"127.0.0.1:{port}": {"Authorization": PARTNER_SECRET}})  # means https
    assert result.outcome == "success"
    (request,) = http_server.requests("/x")
    assert "Authorization" not in request.headers


def test_credentials_of_one_origin_are_not_sent_to_another_port(http_server, echo_server):
    http_server.script("/x", 200)
    echo_port = echo_server.server_address[1]
    result = replay(f"http://127.0.0.1:{echo_port}/x",
                    allow=[f"http://127.0.0.1:{echo_port}", f"http://127.0.0.1:{http_server.port}"],
                    credentials={f"http://127.0.0.1:{http_server.port}": {"Authorization": PARTNER_SECRET}})
    assert result.outcome == "success"
    assert "partner-credential" not in result.detail["body_preview"]
    assert "Authorization" not in json.loads(result.detail["body_preview"] or "{}")


def test_an_echoed_credential_is_not_stored(echo_server):
    port = echo_server.server_address[1]
    result = replay(f"http://127.0.0.1:{port}/x", allow=[f"http://127.0.0.1:{port}"],
                    credentials={f"http://127.0.0.1:{port}": {"Authorization": PARTNER_SECRET,
                                                              "X-Partner-Key": "pk_live_9d8e7f6a"}},
                    headers={"X-Event": "event-supplied-value", "authorization": "***"})
    assert result.outcome == "success"
    for value in ("partner-credential", "pk_live_9d8e7f6a", "event-supplied-value"):
        assert value not in stored(result)


@pytest.mark.parametrize("name", ["Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
                                  "Proxy-Authorization", "TE", "Trailer", "Upgrade"])
def test_an_event_may_not_set_headers_that_frame_the_request(http_server, name):
    http_server.script("/x", 200)
    port = http_server.port
    result = replay(http_server.url("/x"), allow=[f"http://127.0.0.1:{port}"],
                    credentials={f"http://127.0.0.1:{port}": {"Authorization": PARTNER_SECRET}},
                    headers={name: "api.partner.com"})
    assert result.outcome == "permanent" and name in result.error and "cannot be set by an event" in result.error
    assert http_server.calls("/x") == 0


# --- item 4: a URL httpx cannot parse


@pytest.mark.parametrize("url", ["http://ｌｏｃａｌｈｏｓｔ:{port}/x", "http://127.000.000.001:{port}/x",
                                 "http://exa mple.com:{port}/x", "http://[::1:{port}/x"])
def test_a_url_httpx_cannot_send_is_a_permanent_failure(http_server, url):
    result = replay(url.format(port=http_server.port), allow=[f"http://127.0.0.1:{http_server.port}"])
    assert result.outcome == "permanent"
    assert http_server.requests() == []


# --- end to end: an event published on the broker, medic's worker, what medic stores


def _plan_with_fallback(tmp_path):
    return write_plans(tmp_path, [plan("http-attacks", retry_step(3, 0.1, 2, 0.2, "none", timeout_s=13),
                                       {"kind": "fallback", "timeout_s": 13}, {"kind": "dead_letter"})])


def _finished(medic, deadline_s: float = 30) -> tuple[dict, list[dict]]:
    [execution] = recovery.wait_executions(medic.db_url, 1, timeout_s=20)
    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=deadline_s)
    return done, recovery.attempts(medic.db_url, done["id"])


@pytest.mark.timeout(120)
def test_end_to_end_an_ssrf_event_reaches_nothing_and_its_execution_moves_on(medic, client, http_server, tmp_path):
    http_server.script("/latest/meta-data/iam", respond(200, body=METADATA))
    medic.configure(plans_file=_plan_with_fallback(tmp_path))  # no MEDIC_REPLAY_HTTP__ALLOW
    medic.start(testapp=False)

    report(client, make_event(http_target(http_server.url("/latest/meta-data/iam"), method="GET"),
                              fallback=http_target(f"http://2130706433:{http_server.port}/latest/meta-data/iam")))
    done, attempts = _finished(medic)

    assert http_server.requests() == []
    assert done["state"] == "dead", recovery.describe(medic.db_url)
    assert [(a["step_kind"], a["outcome"]) for a in attempts] == [("retry", "permanent"), ("fallback", "permanent")]
    assert "is not in MEDIC_REPLAY_HTTP__ALLOW" in attempts[0]["error"]
    assert "not a canonical IP address" in attempts[1]["error"]
    assert not any("body_preview" in json.dumps(a["detail"]) or "AKIA" in json.dumps(a["detail"]) for a in attempts)


@pytest.mark.timeout(120)
def test_end_to_end_an_echoed_credential_is_not_stored_and_a_host_header_is_refused(medic, client, echo_server,
                                                                                      tmp_path):
    echo = f"http://127.0.0.1:{echo_server.server_address[1]}"
    medic.configure(plans_file=_plan_with_fallback(tmp_path), replay_http__allow=allow_http(_Address(echo_server)),
                    replay_http_headers=json.dumps({echo: {"Authorization": PARTNER_SECRET}}))
    medic.start(testapp=False)

    report(client, make_event(http_target(f"{echo}/orders", headers={"Host": "api.partner.com"}),
                              fallback=http_target(f"{echo}/orders")))
    done, attempts = _finished(medic)

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    assert [(a["step_kind"], a["outcome"]) for a in attempts] == [("retry", "permanent"), ("fallback", "success")]
    assert "Host cannot be set by an event" in attempts[0]["error"]
    stored_text = json.dumps([(a["error"], a["detail"]) for a in attempts], default=str)
    assert "partner-credential" not in stored_text
    assert "body_preview" in stored_text  # the echo was read, and the credential removed from it


@pytest.mark.timeout(120)
def test_end_to_end_an_invalid_idna_host_fails_at_once_and_the_fallback_runs(medic, client, http_server, tmp_path):
    http_server.script("/fallback", respond(201))
    medic.configure(plans_file=_plan_with_fallback(tmp_path), replay_http__allow=allow_http(http_server))
    medic.start(testapp=False)

    report(client, make_event(http_target(f"http://ｌｏｃａｌｈｏｓｔ:{http_server.port}/x"),
                              fallback=http_target(http_server.url("/fallback"))))
    done, attempts = _finished(medic, deadline_s=12)  # well before the attempt's deadline (13 s)

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    assert [(a["step_kind"], a["outcome"]) for a in attempts] == [("retry", "permanent"), ("fallback", "success")]
    assert "InvalidURL" in attempts[0]["error"]


class _Address:
    """host and port of a plain http.server, as allow_http reads them."""

    def __init__(self, server: ThreadingHTTPServer):
        self.host, self.port = server.server_address[:2]
