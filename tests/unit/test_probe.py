"""`medic probe http|beat|worker`: the healthchecks of docker-compose.yml, in-process."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from config.settings import get_settings
from tests.support.httpserver import ScriptedHTTPServer, respond
from workers.cli.probe import probe


@pytest.fixture(autouse=True)
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def server():
    http = ScriptedHTTPServer()
    try:
        yield http
    finally:
        http.close()


def run(*args: str):
    return CliRunner().invoke(probe, list(args))


@pytest.mark.parametrize("status", [200, 204])
def test_http_is_healthy_on_a_2xx(server, status):
    server.script("/healthz", status)
    result = run("http", server.url("/healthz"))
    assert result.exit_code == 0, result.output
    assert result.output == f"ok: GET {server.url('/healthz')} answered {status}\n"


@pytest.mark.parametrize("status", [301, 404, 503])
def test_http_is_unhealthy_otherwise_with_one_line_why(server, status):
    server.script("/readyz", status)
    result = run("http", server.url("/readyz"))
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and f"answered {status}" in result.output


def test_http_gives_up_after_its_timeout(server):
    server.script("/slow", respond(200, delay_s=2))
    started = time.monotonic()
    result = run("http", server.url("/slow"), "--timeout-s", "0.3")
    assert result.exit_code == 1 and "ReadTimeout" in result.output
    assert time.monotonic() - started < 1.5


def test_http_without_a_listener_is_unhealthy():
    result = run("http", "http://127.0.0.1:9/healthz", "--timeout-s", "1")
    assert result.exit_code == 1 and result.output.startswith("unhealthy: GET http://127.0.0.1:9/healthz: ConnectError")


def test_beat_is_healthy_when_its_heartbeat_is_fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path))
    (tmp_path / "beat-heartbeat").touch()
    result = run("beat")
    assert result.exit_code == 0 and result.output.startswith("ok: beat ticked")


def test_beat_is_unhealthy_when_its_heartbeat_is_old_naming_the_age(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path))
    heartbeat = tmp_path / "beat-heartbeat"
    heartbeat.touch()
    os.utime(heartbeat, (time.time() - 90, time.time() - 90))
    assert run("beat", "--max-age-s", "120").exit_code == 0
    result = run("beat", "--max-age-s", "60")
    assert result.exit_code == 1
    assert result.output == f"unhealthy: beat heartbeat {heartbeat} is 90s old (max 60s)\n"


def test_beat_is_unhealthy_when_its_heartbeat_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path))
    result = run("beat")
    assert result.exit_code == 1 and "missing" in result.output


class FakeConnection:
    def __init__(self, error: Exception | None = None):
        self.error = error

    def ensure_connection(self, **_):
        if self.error:
            raise self.error


@pytest.fixture
def celery_app(monkeypatch, tmp_path):
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path))
    # A broker with remote control: on the embedded one the probe reads a heartbeat file instead
    # (tests/unit/test_worker_heartbeat.py).
    monkeypatch.setenv("MEDIC_BROKER_URL", "redis://127.0.0.1:6379/0")
    from config.celery_app import app

    monkeypatch.setattr("workers.cli.probe.socket.gethostname", lambda: "box-7")
    return app


def fake_broker(monkeypatch, app, replies=None, error=None):
    pings = []

    @contextmanager
    def connection_for_write():
        yield FakeConnection(error)

    def ping(destination, timeout, connection):
        pings.append((destination, timeout))
        return replies if replies is not None else []

    monkeypatch.setattr(app, "connection_for_write", connection_for_write)
    monkeypatch.setattr(app.control, "ping", ping)
    return pings


def test_worker_pings_the_node_with_percent_h_expanded(monkeypatch, celery_app):
    pings = fake_broker(monkeypatch, celery_app, replies=[{"intake@box-7": {"ok": "pong"}}])
    result = run("worker", "intake@%h", "--timeout-s", "2")
    assert result.exit_code == 0 and result.output == "ok: worker intake@box-7 answered\n"
    assert pings == [(["intake@box-7"], 2.0)]


def test_worker_without_an_answer_is_unhealthy(monkeypatch, celery_app):
    fake_broker(monkeypatch, celery_app, replies=[{"other@box-7": {"ok": "pong"}}])
    result = run("worker", "intake@%h")
    assert result.exit_code == 1
    assert result.output == "unhealthy: worker intake@box-7 did not answer a ping within 3s\n"


def test_worker_with_the_broker_down_is_unhealthy(monkeypatch, celery_app):
    fake_broker(monkeypatch, celery_app, error=ConnectionRefusedError(111, "Connection refused"))
    result = run("worker", "intake@%h")
    assert result.exit_code == 1
    assert result.output.startswith("unhealthy: broker unreachable: ConnectionRefusedError")
