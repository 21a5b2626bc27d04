"""The maintenance runner on SQLite and PostgreSQL: single-flight, run rows, failures notified, the lease.

The jobs are functions of this module, put in the registry under db-maintenance's name (its
schedule supplies the limits).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import select

from config.settings import load_settings
from tests.support.clock import ManualClock
from workers.maintenance import registry, runs
from workers.maintenance.job import JobContext, JobResult
from workers.maintenance.registry import JobSpec
from workers.maintenance.runner import LEASE_MARGIN_S, lease_name, run_job
from workers.storage import leases
from workers.storage.db import session_factory
from workers.storage.models import Lease, MaintenanceRun, Notification

pytestmark = pytest.mark.integration

JOB = "db-maintenance"
CHANNEL = "ops"
SECRET = "hunter2"

entered, release = threading.Event(), threading.Event()
seen: dict = {}


clock = ManualClock(datetime.now(UTC).replace(microsecond=0))


def blocking_job(ctx: JobContext) -> JobResult:
    entered.set()
    assert release.wait(10), "the test never released the job"
    return JobResult("done", {"rows": 3})


def failing_job(ctx: JobContext) -> JobResult:
    raise RuntimeError(f"cannot connect to the app database: password={SECRET} refused")


def soft_limited_job(ctx: JobContext) -> JobResult:
    raise SoftTimeLimitExceeded()


def finding_job(ctx: JobContext) -> JobResult:
    return JobResult(f"2 discrepancies found (api_key={SECRET})", {"found": 2}, failed=True)


def progress_job(ctx: JobContext) -> JobResult:
    expiries = [_lease_expiry(ctx)]
    ttl_s = ctx.settings.schedules[JOB].time_limit_s + LEASE_MARGIN_S
    clock.now += timedelta(seconds=ttl_s / 2)
    ctx.progress(1, 3, "halfway")
    expiries.append(_lease_expiry(ctx))
    clock.now += timedelta(seconds=1)  # renewed a second ago: not renewed again
    ctx.progress(2, 3, "nearly")
    expiries.append(_lease_expiry(ctx))
    seen.update(expiries=expiries, ttl_s=ttl_s, now=clock.now)
    return JobResult("progressed", {"steps": 3})


def _lease_expiry(ctx: JobContext) -> datetime:
    with ctx.sessions() as session:
        return session.get(Lease, lease_name(JOB)).expires_at


@pytest.fixture
def settings(database_url):
    return load_settings(database_url=database_url, channels={CHANNEL: {"type": "log"}}, maintenance_channel=CHANNEL)


@pytest.fixture
def use_job(monkeypatch):
    entered.clear(), release.clear(), seen.clear()
    clock.now = datetime.now(UTC).replace(microsecond=0)

    def use(function: str) -> None:
        monkeypatch.setitem(registry.JOBS, JOB, JobSpec(JOB, f"{__name__}:{function}", "a test job"))
    return use


def all_runs(settings) -> list[MaintenanceRun]:
    with session_factory(settings.database_url)() as session:
        return list(session.scalars(select(MaintenanceRun).order_by(MaintenanceRun.id)))


def notifications(settings) -> list[Notification]:
    with session_factory(settings.database_url)() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_a_run_while_another_holds_the_lock_is_skipped_and_recorded(settings, use_job):
    use_job("blocking_job")
    outcomes = []
    first = threading.Thread(target=lambda: outcomes.append(run_job(JOB, settings, trigger="beat")))
    first.start()
    try:
        assert entered.wait(10)
        skipped = run_job(JOB, settings, trigger="cli")
    finally:
        release.set()
        first.join(10)
    assert skipped.run.status == runs.SKIPPED and skipped.result is None
    assert "previous run still holds the lock" in skipped.run.summary
    assert outcomes[0].run.status == runs.SUCCEEDED
    rows = all_runs(settings)
    assert [(r.trigger, r.status) for r in rows] == [("beat", "succeeded"), ("cli", "skipped")]
    assert rows[0].summary == "done" and rows[0].counts == {"rows": 3} and rows[0].finished_at is not None
    assert rows[1].finished_at is not None
    assert notifications(settings) == []
    # The lock went with the run: the next one goes ahead.
    release.set()
    assert run_job(JOB, settings, trigger="cli").run.status == runs.SUCCEEDED


def test_a_failing_job_is_recorded_masked_and_notified_on_the_maintenance_channel(settings, use_job):
    use_job("failing_job")
    outcome = run_job(JOB, settings, trigger="beat")
    assert outcome.run.status == runs.FAILED and outcome.result is None
    (row,) = all_runs(settings)
    assert row.status == "failed" and row.finished_at is not None and row.summary is None
    assert row.error.startswith("RuntimeError: cannot connect to the app database: password=")
    assert SECRET not in row.error
    (note,) = notifications(settings)
    assert (note.channel, note.kind, note.level, note.state) == (CHANNEL, "maintenance", "error", "pending")
    assert note.subject == f"maintenance job {JOB} failed"
    assert note.body["fields"]["run"] == row.id
    assert SECRET not in json.dumps(note.body)
    with session_factory(settings.database_url)() as session:
        assert session.get(Lease, lease_name(JOB)) is None


def test_soft_time_limit_is_a_failure_that_says_so(settings, use_job):
    use_job("soft_limited_job")
    run_job(JOB, settings, trigger="beat")
    (row,) = all_runs(settings)
    soft_s = settings.schedules[JOB].soft_time_limit_s
    assert (row.status, row.error) == ("failed", f"stopped at its soft time limit ({soft_s} s)")
    assert len(notifications(settings)) == 1


def test_a_result_marked_failed_is_a_failed_run_with_its_summary_and_a_notification(settings, use_job):
    use_job("finding_job")
    outcome = run_job(JOB, settings, trigger="beat")
    assert outcome.result is not None and outcome.result.failed
    (row,) = all_runs(settings)
    assert row.status == "failed" and row.counts == {"found": 2} and row.error is None
    assert row.summary.startswith("2 discrepancies found (api_key=") and SECRET not in row.summary
    (note,) = notifications(settings)
    assert note.channel == CHANNEL and SECRET not in json.dumps(note.body)


def test_a_run_left_running_by_a_dead_process_is_closed_as_abandoned_and_notified(settings, use_job):
    sessions = session_factory(settings.database_url)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    with sessions() as session:
        dead = runs.start(session, JOB, trigger="beat", host="gone:1", now=long_ago)
        other = runs.start(session, "backup", trigger="beat", host="gone:1", now=long_ago)
        # Its lease expired long ago (the process was killed at the hard time limit).
        assert leases.acquire(session, lease_name(JOB), "gone:1:x", now=long_ago, ttl_s=60)
    use_job("blocking_job")
    release.set()
    assert run_job(JOB, settings, trigger="beat").run.status == runs.SUCCEEDED
    by_id = {row.id: row for row in all_runs(settings)}
    assert by_id[dead.id].status == "failed" and by_id[dead.id].error == runs.ABANDONED
    assert by_id[dead.id].finished_at is not None
    assert by_id[other.id].status == "running"  # another job's run is not this lock's business
    (note,) = notifications(settings)
    assert note.channel == CHANNEL and note.body["fields"]["run"] == dead.id
    assert note.body["fields"]["problem"] == runs.ABANDONED


def test_an_unexpired_lease_of_a_dead_run_still_skips(settings, use_job):
    use_job("blocking_job")
    with session_factory(settings.database_url)() as session:
        assert leases.acquire(session, lease_name(JOB), "elsewhere:7:y", now=datetime.now(UTC), ttl_s=600)
    assert run_job(JOB, settings, trigger="cli").run.status == runs.SKIPPED
    assert not entered.is_set()


def test_progress_renews_the_lease_at_most_every_third_of_its_lifetime(settings, use_job):
    use_job("progress_job")
    reported = []
    outcome = run_job(JOB, settings, trigger="cli", clock=clock,
                      on_progress=lambda done, total, label: reported.append((done, total, label)))
    assert outcome.run.status == runs.SUCCEEDED
    first, renewed, unchanged = seen["expiries"]
    assert renewed - first == timedelta(seconds=seen["ttl_s"] / 2)
    assert unchanged == renewed
    assert reported == [(1, 3, "halfway"), (2, 3, "nearly")]
    with session_factory(settings.database_url)() as session:
        assert session.get(Lease, lease_name(JOB)) is None
