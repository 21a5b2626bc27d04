"""Beat: two beats on Redis schedule each run once (RedBeat's lock), and the embedded JSON-file scheduler.

The RedBeat tests run real `medic beat` processes and a real worker on the maintenance queue;
db-maintenance runs every second and every other job is disabled, so one run row = one tick.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from sqlalchemy import select

from config.jobs.schedule import DEFAULT_SCHEDULES
from config.queues import MAINTENANCE_QUEUE
from config.settings import load_settings
from tests.support import services
from tests.support.services import Process, medic_command, medic_env, wait_for
from workers import beat_file
from workers.beat_file import JsonFileScheduler
from workers.storage.db import session_factory
from workers.storage.models import MaintenanceRun

pytestmark = pytest.mark.integration

JOB = "db-maintenance"
ENTRY = f"maintenance:{JOB}"
LOCK_TIMEOUT_S = 5  # the smallest medic allows; beat then ticks every second
WINDOW_S = 8
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
BEAT = medic_command("beat")
# What `medic beat` becomes after checking the settings; half the start-up time, for the scheduler tests.
WORKER = medic_command("worker", "--queues", MAINTENANCE_QUEUE, "--concurrency", "2")
CELERY_BEAT = [sys.executable, "-m", "celery", "-A", "config.celery_app", "beat", "--loglevel", "INFO"]
SENDING = re.compile(r"^(\S+ \S+) INFO +celery\.beat: Scheduler: Sending due task (\S+) ", re.M)
ACQUIRED = re.compile(r"^(\S+ \S+) INFO +celery\.beat: beat: Acquired lock", re.M)


def only(job: str | None, **schedule) -> str:
    """MEDIC_MAINTENANCE_JOBS with every job disabled but `job`, which gets `schedule`."""
    jobs = {name: {"enabled": False} for name in DEFAULT_SCHEDULES if name != job}
    if job:
        jobs[job] = schedule
    return json.dumps(jobs)


def log_time(text: str) -> datetime:
    """A timestamp of the text log format (local time, as logging writes it)."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").astimezone(UTC)


def sends(process: Process, entry: str = ENTRY) -> list[datetime]:
    return [log_time(when) for when, name in SENDING.findall(process.output()) if name == entry]


def run_starts(database_url: str, since: datetime, until: datetime | None = None) -> list[MaintenanceRun]:
    query = select(MaintenanceRun).where(MaintenanceRun.job == JOB, MaintenanceRun.started_at >= since)
    if until is not None:
        query = query.where(MaintenanceRun.started_at < until)
    with session_factory(database_url)() as session:
        return list(session.scalars(query.order_by(MaintenanceRun.started_at)))


def gaps_s(moments: list[datetime]) -> list[float]:
    return [(later - earlier).total_seconds() for earlier, later in zip(moments, moments[1:], strict=False)]


def now() -> datetime:
    return datetime.now(UTC)


class Stack:
    """Processes of one test, stopped at teardown; their logs' tails printed (pytest shows them on failure)."""

    def __init__(self, tmp_path: Path):
        self.tmp_path, self.processes = tmp_path, []

    def start(self, args: list[str], env: dict, name: str, marker: str | None = "beat: Starting...") -> Process:
        process = Process(args, env, self.tmp_path / f"{name}.log")
        self.processes.append(process)
        if marker:
            process.wait_ready(marker)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate(timeout_s=15)
            print(f"===== {process.log_path.name} (exit {process.proc.returncode}) =====\n{process.output()[-3000:]}")


@pytest.fixture
def stack(tmp_path):
    processes = Stack(tmp_path)
    try:
        yield processes
    finally:
        processes.stop()


# ----------------------------------------------------------------------------- RedBeat (Redis)


def test_two_beats_schedule_each_run_once_and_the_standby_takes_over(redis_url, pg_database, stack, tmp_path):
    url = services.pg_url(pg_database)
    env = medic_env(broker_url=redis_url, database_url=url, beat_lock_timeout_s=LOCK_TIMEOUT_S,
                    data_dir=tmp_path / "data",
                    maintenance_jobs=only(JOB, every_s=1, soft_time_limit_s=5, time_limit_s=10),
                    recovery_sweep_interval_s=60, log_format="text")
    worker = stack.start(WORKER, env, "worker", marker=None)
    beats = [stack.start(BEAT, env, f"beat-{n}", marker=None) for n in (1, 2)]
    worker.wait_ready("ready.")
    for beat in beats:
        beat.wait_ready("beat: Starting...")
    wait_for(lambda: any(ACQUIRED.search(beat.output()) for beat in beats), timeout_s=10,
             what="a beat holding the lock")
    active, standby = beats if ACQUIRED.search(beats[0].output()) else beats[::-1]

    wait_for(lambda: run_starts(url, EPOCH), timeout_s=10, what="a first run")  # sent before the worker was up
    since = now()
    wait_for(lambda: now() - since >= timedelta(seconds=WINDOW_S), timeout_s=WINDOW_S + 1, interval_s=0.5)
    until = since + timedelta(seconds=WINDOW_S)
    sent = [moment for moment in sends(active) if since <= moment < until]
    assert WINDOW_S - 1 <= len(sent) <= WINDOW_S + 1 and min(gaps_s(sent)) > 0.5, sent  # once a tick
    assert sends(standby) == [] and not ACQUIRED.search(standby.output())
    rows = run_starts(url, since, until)
    assert WINDOW_S - 1 <= len(rows) <= WINDOW_S + 1, [r.started_at for r in rows]  # one run a tick, not two
    assert {r.status for r in rows} <= {"succeeded", "running"}  # none overlapped (a skipped row would say so)

    active.kill()  # SIGKILL: the lock is not released, it must expire
    killed = now()
    wait_for(lambda: ACQUIRED.search(standby.output()), timeout_s=LOCK_TIMEOUT_S + 5,
             what="the standby taking the lock")
    took_over_s = (log_time(ACQUIRED.search(standby.output())[1]) - killed).total_seconds()
    print(f"standby took the lock {took_over_s:.2f}s after the active beat was killed")
    # The lock was last extended at most one tick (1 s) before the kill, to LOCK_TIMEOUT_S.
    assert LOCK_TIMEOUT_S - 1.5 <= took_over_s <= LOCK_TIMEOUT_S + 1.5

    wait_for(lambda: len(run_starts(url, killed)) >= 4, timeout_s=LOCK_TIMEOUT_S + 8, what="4 runs after the takeover")
    resumed = run_starts(url, killed)
    assert (resumed[0].started_at - killed).total_seconds() < LOCK_TIMEOUT_S + 2.5
    assert {r.status for r in resumed} <= {"succeeded", "running"}
    # Its log line of a send can come after the run's row (CI: 4 runs, 3 sends logged).
    wait_for(lambda: len(sends(standby)) >= 4, timeout_s=5, what="the standby's log of 4 sends")
    assert min(gaps_s(sends(standby))) > 0.5


def test_a_paused_beat_that_lost_its_lock_stands_by_instead_of_exiting(redis_url, stack, tmp_path):
    """SIGSTOP past the lock timeout (a VM paused, a process swapped out): the standby takes over; the
    paused beat, resumed, finds its lock gone and waits for it again, and takes over when it is free."""
    env = medic_env(broker_url=redis_url, beat_lock_timeout_s=LOCK_TIMEOUT_S, data_dir=tmp_path / "data",
                    maintenance_jobs=only(JOB, every_s=1), recovery_sweep_interval_s=60, log_format="text")
    beats = [stack.start(BEAT, env, f"beat-{n}") for n in (1, 2)]
    wait_for(lambda: any(ACQUIRED.search(beat.output()) for beat in beats), timeout_s=10,
             what="a beat holding the lock")
    active, standby = beats if ACQUIRED.search(beats[0].output()) else beats[::-1]
    active.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: ACQUIRED.search(standby.output()), timeout_s=LOCK_TIMEOUT_S + 5,
                 what="the standby taking the lock from the paused beat")
    finally:
        active.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: "stands by" in active.output(), timeout_s=10, what="the resumed beat standing by")
    sent_before = len(sends(active))
    wait_for(lambda: len(sends(standby)) >= 3, timeout_s=10, what="the new active beat scheduling")
    assert active.proc.poll() is None, active.output()[-3000:]  # it did not exit
    assert len(sends(active)) == sent_before  # and schedules nothing while it stands by

    standby.kill()
    wait_for(lambda: "beat took its lock again" in active.output(), timeout_s=LOCK_TIMEOUT_S + 5,
             what="the first beat taking the lock back")
    wait_for(lambda: len(sends(active)) > sent_before, timeout_s=5, what="it scheduling again")


def test_a_job_disabled_later_is_removed_from_redis_at_the_next_start(redis_url, stack, tmp_path):
    """RedBeat keeps its entries in Redis; a static entry gone from the config must not keep firing."""
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    key = f"medic:redbeat:{ENTRY}"
    common = dict(broker_url=redis_url, database_url=f"sqlite:///{tmp_path / 'unused.sqlite'}",
                  data_dir=tmp_path / "data",
                  beat_lock_timeout_s=LOCK_TIMEOUT_S, recovery_sweep_interval_s=0.5, log_format="text")
    first = stack.start(CELERY_BEAT, medic_env(maintenance_jobs=only(JOB, every_s=1), **common), "beat-enabled")
    wait_for(lambda: sends(first), timeout_s=10, what=f"{ENTRY} sent")
    assert store.exists(key) and ENTRY in store.smembers("medic:redbeat::statics")
    first.terminate()

    second = stack.start(CELERY_BEAT, medic_env(maintenance_jobs=only(None), **common), "beat-disabled")
    wait_for(lambda: len(sends(second, "recovery-sweep")) >= 4, timeout_s=10, what="the second beat ticking")
    assert sends(second) == []
    assert not store.exists(key)
    assert store.zscore("medic:redbeat::schedule", key) is None
    assert ENTRY not in store.smembers("medic:redbeat::statics")
    assert store.exists("medic:redbeat:recovery-sweep")


# ----------------------------------------------------------------------------- JSON file (embedded)


def file_app(**entries) -> Celery:
    app = Celery("beat-file-test", set_as_current=False)
    app.conf.update(timezone="UTC", enable_utc=True, beat_schedule={
        name: {"task": "medic.maintenance.run", "schedule": timedelta(seconds=every_s), "args": [name]}
        for name, every_s in entries.items()})
    return app


def test_file_scheduler_writes_run_times_and_replaces_the_file_atomically(tmp_path, monkeypatch):
    path = tmp_path / "beat-schedule.json"
    scheduler = JsonFileScheduler(app=file_app(a=60, b=3600), schedule_filename=str(path))
    scheduler.sync()
    saved = json.loads(path.read_text())
    assert saved["version"] == 1 and set(saved["entries"]) == {"a", "b"}
    assert datetime.fromisoformat(saved["entries"]["a"]["last_run_at"]) == scheduler.schedule["a"].last_run_at
    assert list(tmp_path.iterdir()) == [path]

    before = path.read_text()
    scheduler.schedule["a"].total_run_count = 99

    def interrupted(source, target):
        raise OSError("killed between write and rename")
    monkeypatch.setattr(beat_file.os, "replace", interrupted)
    with pytest.raises(OSError):
        scheduler.sync()
    assert path.read_text() == before  # the previous file, whole


def test_file_scheduler_restores_saved_run_times_and_skips_bad_entries(tmp_path, caplog):
    path = tmp_path / "beat-schedule.json"
    last = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    path.write_text(json.dumps({"version": 1, "entries": {
        "a": {"last_run_at": last.isoformat(), "total_run_count": 7},
        "b": {"last_run_at": "yesterday"},
        "gone": {"last_run_at": last.isoformat()},
    }}))
    with caplog.at_level(logging.WARNING, logger="medic.beat"):
        scheduler = JsonFileScheduler(app=file_app(a=60, b=60), schedule_filename=str(path))
    assert (scheduler.schedule["a"].last_run_at, scheduler.schedule["a"].total_run_count) == (last, 7)
    assert scheduler.schedule["b"].total_run_count == 0
    assert [r.error for r in caplog.records] == ["entry 'b': ValueError(\"Invalid isoformat string: 'yesterday'\")"]
    scheduler.sync()
    assert set(json.loads(path.read_text())["entries"]) == {"a", "b"}  # entries no longer configured are dropped


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"entries": []}', "\x00\xff"])
def test_file_scheduler_ignores_an_unreadable_file_with_a_warning(tmp_path, caplog, text):
    path = tmp_path / "beat-schedule.json"
    path.write_text(text, encoding="latin-1")
    with caplog.at_level(logging.WARNING, logger="medic.beat"):
        scheduler = JsonFileScheduler(app=file_app(a=60), schedule_filename=str(path))
    assert [r.getMessage() for r in caplog.records] == ["beat schedule file unreadable; those entries start afresh"]
    assert scheduler.schedule["a"].total_run_count == 0


def embedded_env(tmp_path: Path, **settings) -> dict:
    return medic_env(data_dir=tmp_path / "data", log_format="text", **settings)


def test_embedded_beat_keeps_last_run_times_across_a_restart(stack, tmp_path):
    """An hourly job that last ran 59m57s ago runs within seconds (the file was read), and not again after a restart."""
    env = embedded_env(tmp_path, maintenance_jobs=only(JOB, every_s=3600), recovery_sweep_interval_s=0.5)
    path = tmp_path / "data" / "beat-schedule.json"
    path.parent.mkdir()
    due = now() - timedelta(seconds=3600 - 3)
    path.write_text(json.dumps({"version": 1,
                                "entries": {ENTRY: {"last_run_at": due.isoformat(), "total_run_count": 5}}}))

    first = stack.start(CELERY_BEAT, env, "beat-1")
    assert "workers.beat_file.JsonFileScheduler" in first.output() and str(path) in first.output()
    wait_for(lambda: sends(first), timeout_s=10, what=f"{ENTRY} sent")
    assert first.terminate() == 0
    saved = json.loads(path.read_text())["entries"][ENTRY]
    ran_at = datetime.fromisoformat(saved["last_run_at"])
    assert saved["total_run_count"] == 6 and abs((ran_at - sends(first)[0]).total_seconds()) < 1
    assert not path.with_name(path.name + ".tmp").exists()

    second = stack.start(CELERY_BEAT, env, "beat-2")
    wait_for(lambda: len(sends(second, "recovery-sweep")) >= 4, timeout_s=10, what="the second beat ticking")
    assert sends(second) == []
    assert second.terminate() == 0
    assert json.loads(path.read_text())["entries"][ENTRY] == saved


def test_embedded_beat_starts_despite_a_corrupt_schedule_file(stack, tmp_path):
    env = embedded_env(tmp_path, maintenance_jobs=only(None), recovery_sweep_interval_s=0.5)
    path = tmp_path / "data" / "beat-schedule.json"
    path.parent.mkdir()
    path.write_text('{"version": 1, "entries": {"recovery-sweep": {"last_run_at": "2024-01-0')
    beat = stack.start(CELERY_BEAT, env, "beat")
    wait_for(lambda: len(sends(beat, "recovery-sweep")) >= 2, timeout_s=10, what="the beat ticking")
    assert "beat schedule file unreadable; those entries start afresh" in beat.output()
    assert beat.terminate() == 0
    assert "recovery-sweep" in json.loads(path.read_text())["entries"]


def test_medic_run_embeds_beat_with_the_json_file_scheduler(stack, tmp_path):
    env = embedded_env(tmp_path, maintenance_jobs=only(JOB, every_s=1))
    database_url = load_settings(data_dir=tmp_path / "data").database_url
    run = stack.start(medic_command("run", "--concurrency", "2"), env, "run", marker="ready.")
    wait_for(lambda: (tmp_path / "data" / "beat-schedule.json").exists(), timeout_s=15, what="beat-schedule.json")
    wait_for(lambda: len(run_starts(database_url, EPOCH)) >= 2, timeout_s=20, interval_s=0.5,
             what="2 db-maintenance runs")
    assert {r.status for r in run_starts(database_url, EPOCH)} <= {"succeeded", "running"}
    assert not list((tmp_path / "data").glob("celerybeat-schedule*"))  # not Celery's shelve (pickle)
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0
