"""The worker's heartbeat file on the embedded broker: its name, its age, the bootstep that touches it,
and `medic probe worker` reading it there (Celery's remote control needs a broadcast exchange)."""

from __future__ import annotations

import logging
import os
import time

import pytest
from click.testing import CliRunner

from config.celery_app import celery_config, create_app
from config.settings import get_settings, load_settings
from workers import worker_heartbeat
from workers.cli.probe import DEFAULT_WORKER_MAX_AGE_S, probe
from workers.worker_heartbeat import (
    HEARTBEAT_INTERVAL_S,
    MAX_AGE_S,
    WorkerHeartbeat,
    WorkerHeartbeatStep,
    heartbeat_file,
    heartbeat_file_name,
    is_alive,
)

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(autouse=True)
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_file_name_is_the_node_name_between_a_prefix_and_a_suffix():
    assert heartbeat_file_name("medic-embedded@box-7.example") == "medic-worker-medic-embedded@box-7.example.heartbeat"


@pytest.mark.parametrize("hostname", ["a/b@host", "../../etc@x", "a b@h\n", "é@host", "x" * 400])
def test_a_name_unfit_for_a_file_name_is_sanitised_and_kept_apart_from_its_lookalike(hostname):
    name = heartbeat_file_name(hostname)
    assert "/" not in name and "\n" not in name and " " not in name and name.isascii()
    assert name.startswith("medic-worker-") and name.endswith(".heartbeat") and len(name) <= 200
    lookalike = "".join(c if c.isascii() and (c.isalnum() or c in "@.-") else "_" for c in hostname)[:120]
    assert name != heartbeat_file_name(lookalike)
    assert name == heartbeat_file_name(hostname)  # stable: the probe finds what the worker wrote


def test_the_file_lives_in_the_data_dir(tmp_path):
    assert heartbeat_file(tmp_path, "w@h") == tmp_path / "medic-worker-w@h.heartbeat"


def test_alive_while_younger_than_three_intervals():
    assert MAX_AGE_S == 3 * HEARTBEAT_INTERVAL_S == DEFAULT_WORKER_MAX_AGE_S
    assert is_alive(0.0) and is_alive(MAX_AGE_S) and is_alive(-2.0)  # a clock step back is no death
    assert not is_alive(MAX_AGE_S + 0.1)
    assert is_alive(40, max_age_s=60) and not is_alive(61, max_age_s=60)


def test_touch_creates_the_file_then_refreshes_it(tmp_path):
    path = tmp_path / "data" / "medic-worker-w@h.heartbeat"
    heartbeat = WorkerHeartbeat(path)
    assert heartbeat.touch() and path.exists()
    os.utime(path, (time.time() - 300, time.time() - 300))
    assert heartbeat.touch() and time.time() - path.stat().st_mtime < 5


def test_a_failing_touch_is_logged_once_per_streak_and_never_raises(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    heartbeat = WorkerHeartbeat(blocker / "medic-worker-w@h.heartbeat")
    with caplog.at_level(logging.INFO, logger="medic.worker"):
        assert heartbeat.touch() is False and heartbeat.touch() is False
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        blocker.unlink()
        blocker.mkdir()
        assert heartbeat.touch() is True
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]


class FakeEntry:
    def __init__(self):
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


class FakeTimer:
    def __init__(self):
        self.calls = []

    def call_repeatedly(self, seconds, fun, args=(), kwargs=None, priority=0):
        self.calls.append((seconds, fun))
        self.entry = FakeEntry()
        return self.entry


class FakeWorker:
    def __init__(self, hostname="medic-embedded@box"):
        self.hostname = hostname
        self.timer = FakeTimer()


def test_the_step_touches_at_start_then_every_interval_and_removes_the_file_at_stop(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path))
    worker = FakeWorker()
    step = WorkerHeartbeatStep(worker)
    step.start(worker)
    path = tmp_path / "medic-worker-medic-embedded@box.heartbeat"
    assert path.exists()
    [(seconds, fun)] = worker.timer.calls
    assert seconds == HEARTBEAT_INTERVAL_S
    os.utime(path, (time.time() - 300, time.time() - 300))
    fun()
    assert time.time() - path.stat().st_mtime < 5
    step.stop(worker)
    assert worker.timer.entry.cancelled and not path.exists()
    step.stop(worker)  # twice (stop, then shutdown) is harmless


def test_a_step_that_cannot_write_still_starts_and_stops(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path / "file" / "below"))
    worker = FakeWorker()
    step = WorkerHeartbeatStep(worker)
    step.start(worker)
    worker.timer.calls[0][1]()
    step.stop(worker)


def test_events_and_the_heartbeat_only_where_they_work():
    embedded = load_settings()
    assert celery_config(embedded)["worker_send_task_events"] is False
    assert celery_config(embedded)["task_send_sent_event"] is False
    redis = load_settings(broker_url=REDIS)
    assert celery_config(redis)["worker_send_task_events"] is True
    assert celery_config(redis)["task_send_sent_event"] is True


def step_names(app) -> set[str]:
    return {step if isinstance(step, str) else f"{step.__module__}:{step.__name__}" for step in app.steps["worker"]}


def test_the_heartbeat_step_is_added_on_the_sqlalchemy_broker_only(monkeypatch):
    from celery import current_app
    from kombu.transport import sqlalchemy as sqlalchemy_transport

    monkeypatch.setattr(sqlalchemy_transport.Transport, "polling_interval",
                        sqlalchemy_transport.Transport.polling_interval)  # create_app sets it: restored after
    before = current_app._get_current_object()
    step = f"{worker_heartbeat.__name__}:{WorkerHeartbeatStep.__name__}"
    try:
        assert step in step_names(create_app(load_settings()))
        assert step not in step_names(create_app(load_settings(broker_url=REDIS)))
    finally:
        before.set_current()  # create_app makes its app the current one


def run_probe(*args: str):
    return CliRunner().invoke(probe, list(args))


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("workers.cli.probe.socket.gethostname", lambda: "box-7")
    from config.celery_app import app

    def no_ping(*_, **__):
        raise AssertionError("the embedded broker has no broadcast: no ping")

    monkeypatch.setattr(app.control, "ping", no_ping)
    return tmp_path


def test_probe_worker_on_the_embedded_broker_reads_a_fresh_heartbeat(embedded):
    (embedded / "medic-worker-medic-embedded@box-7.heartbeat").touch()
    result = run_probe("worker", "medic-embedded@%h")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: worker medic-embedded@box-7 heartbeat ") and result.output.count("\n") == 1


def test_probe_worker_on_the_embedded_broker_is_unhealthy_on_an_old_heartbeat(embedded):
    path = embedded / "medic-worker-medic-embedded@box-7.heartbeat"
    path.touch()
    os.utime(path, (time.time() - 40, time.time() - 40))
    assert run_probe("worker", "medic-embedded@%h", "--max-age-s", "60").exit_code == 0
    result = run_probe("worker", "medic-embedded@%h")
    assert result.exit_code == 1
    assert result.output == (f"unhealthy: worker medic-embedded@box-7 heartbeat {path} is 40s old "
                             f"(max {MAX_AGE_S:g}s)\n")


def test_probe_worker_on_the_embedded_broker_is_unhealthy_without_a_heartbeat(embedded):
    result = run_probe("worker", "medic-embedded@%h")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "missing" in result.output and "medic-worker-medic-embedded@box-7.heartbeat" in result.output
