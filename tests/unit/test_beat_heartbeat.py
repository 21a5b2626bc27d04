"""Beat's heartbeat file: touched after every tick of both schedulers, never crashing beat."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta

import pytest
from celery import Celery

from config.settings import get_settings
from workers.beat_file import JsonFileScheduler
from workers.beat_heartbeat import Heartbeat
from workers.beat_redbeat import HeartbeatRedBeatScheduler


@pytest.fixture(autouse=True)
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def age_s(path) -> float:
    return time.time() - path.stat().st_mtime


def test_touch_creates_the_file_and_its_directory_then_refreshes_it(tmp_path):
    path = tmp_path / "data" / "beat-heartbeat"
    heartbeat = Heartbeat(path)
    assert heartbeat.touch() and path.exists()
    os.utime(path, (time.time() - 300, time.time() - 300))
    assert heartbeat.touch() and age_s(path) < 5


def test_a_failing_touch_is_logged_once_per_streak_and_never_raises(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    heartbeat = Heartbeat(blocker / "beat-heartbeat")
    with caplog.at_level(logging.INFO, logger="medic.beat"):
        assert heartbeat.touch() is False
        assert heartbeat.touch() is False
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        blocker.unlink()
        assert heartbeat.touch() is True
    assert [r.getMessage() for r in caplog.records] == [
        "beat heartbeat file cannot be touched; `medic probe beat` will report the beat as dead",
        "beat heartbeat file touched again"]


def file_app() -> Celery:
    app = Celery("heartbeat-test", set_as_current=False, broker="memory://")
    app.conf.update(timezone="UTC", enable_utc=True, beat_schedule={
        "a": {"task": "medic.maintenance.run", "schedule": timedelta(seconds=3600), "args": ["a"]}})
    return app


def test_the_file_scheduler_touches_the_settings_heartbeat_file_after_each_tick(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIC_DATA_DIR", str(tmp_path / "data"))
    scheduler = JsonFileScheduler(app=file_app(), schedule_filename=str(tmp_path / "beat-schedule.json"))
    path = get_settings().beat_heartbeat_file
    assert not path.exists()  # building a scheduler touches nothing
    interval = scheduler.tick()
    assert interval > 0 and path.exists()
    os.utime(path, (time.time() - 300, time.time() - 300))
    scheduler.tick()
    assert age_s(path) < 5


def test_a_tick_that_raises_does_not_touch(tmp_path, monkeypatch):
    scheduler = JsonFileScheduler(app=file_app(), schedule_filename=str(tmp_path / "beat-schedule.json"))
    scheduler.heartbeat_file = tmp_path / "beat-heartbeat"
    monkeypatch.setattr("celery.beat.Scheduler.tick", lambda self, *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        scheduler.tick()
    assert not scheduler.heartbeat_file.exists()


class Standby(HeartbeatRedBeatScheduler):
    """The standby logic alone: no Redis, no RedBeat setup."""

    def __init__(self, heartbeat_file, answers=True):
        self.heartbeat_file, self.max_interval, self.lock, self.answers = heartbeat_file, 0.05, None, answers
        self._standby_stop = threading.Event()

    def _redis_answers(self) -> bool:
        return self.answers


def run_standby(scheduler: Standby) -> threading.Thread:
    thread = threading.Thread(target=scheduler._standby_heartbeat, daemon=True)
    thread.start()
    return thread


def wait_until(predicate, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_standby_redbeat_beat_keeps_its_heartbeat_fresh_until_it_holds_the_lock(tmp_path):
    path = tmp_path / "beat-heartbeat"
    scheduler = Standby(path)
    thread = run_standby(scheduler)
    wait_until(path.exists)
    os.utime(path, (time.time() - 300, time.time() - 300))
    wait_until(lambda: age_s(path) < 5)  # touched again while waiting for the lock
    scheduler.lock = object()  # acquired: from now on only ticks touch the file
    thread.join(2)
    assert not thread.is_alive()


def test_the_standby_heartbeat_stops_at_the_first_tick_and_vouches_only_while_redis_answers(tmp_path):
    path = tmp_path / "beat-heartbeat"
    scheduler = Standby(path, answers=False)
    thread = run_standby(scheduler)
    time.sleep(0.2)
    assert not path.exists()
    scheduler._stop_standby()  # what tick() and close() do
    thread.join(2)
    assert not thread.is_alive()
