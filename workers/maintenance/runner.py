"""Run one maintenance job: single-flight by a database lease, recorded as a run row, failures notified.

Beat's task and `medic maintenance run` both come through here, so a job started by hand while
beat's run is going is skipped (and recorded as skipped), and the other way round.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from config.settings import Settings
from workers.clock import utcnow
from workers.maintenance import runs
from workers.maintenance.job import JobContext, JobResult, ProgressFn
from workers.maintenance.registry import get_job
from workers.masking import mask_text
from workers.notify.message import Message
from workers.notify.queue import enqueue
from workers.storage import leases
from workers.storage.db import session_factory
from workers.storage.models import MaintenanceRun

log = logging.getLogger("medic.maintenance")

LEASE_MARGIN_S = 30  # the lock outlives the hard time limit by this much
ERROR_MAX_CHARS = 4000


@dataclass(frozen=True)
class RunOutcome:
    run: MaintenanceRun
    result: JobResult | None  # None when skipped or failed with an exception


def lease_name(job: str) -> str:
    return f"maintenance:{job}"


def run_job(name: str, settings: Settings, *, trigger: str, dry_run: bool = False,
            params: dict[str, Any] | None = None, on_progress: ProgressFn | None = None,
            clock: Callable[[], datetime] = utcnow) -> RunOutcome:
    spec = get_job(name)
    schedule = settings.schedules[name]
    sessions = session_factory(settings.database_url)
    host = f"{socket.gethostname()}:{os.getpid()}"
    holder = f"{host}:{uuid.uuid4().hex[:8]}"
    ttl_s = schedule.time_limit_s + LEASE_MARGIN_S
    with sessions() as session:
        if not leases.acquire(session, lease_name(name), holder, now=clock(), ttl_s=ttl_s):
            reason = "skipped: the previous run still holds the lock"
            log.info("maintenance job skipped", extra={"job": name, "reason": reason})
            return RunOutcome(runs.skip(session, name, trigger=trigger, host=host, now=clock(), reason=reason), None)
        try:
            run = runs.start(session, name, trigger=trigger, host=host, now=clock())
            for abandoned in runs.close_abandoned(session, name, keep_id=run.id, now=clock()):
                _notify(session, abandoned, settings, runs.ABANDONED, clock)
            renew = _lease_renewer(sessions, name, holder, ttl_s, clock)

            def progress(done: int, total: int | None, label: str) -> None:
                renew()
                if on_progress is not None:
                    on_progress(done, total, label)

            ctx = JobContext(settings=settings, sessions=sessions, run_id=run.id, dry_run=dry_run,
                             params=dict(params or {}), clock=clock, on_progress=progress)
            return _execute(spec.function, ctx, session, run, settings, schedule.soft_time_limit_s, clock)
        finally:
            with sessions() as release_session:
                leases.release(release_session, lease_name(name), holder)


def _execute(resolve, ctx: JobContext, session, run: MaintenanceRun, settings: Settings, soft_limit_s: int,
             clock) -> RunOutcome:
    started = time.monotonic()
    try:
        result = resolve()(ctx)
    except SoftTimeLimitExceeded:
        error = f"stopped at its soft time limit ({soft_limit_s} s)"
        return _failed(session, run, settings, error, clock)
    except KeyboardInterrupt:  # Ctrl-C on `medic maintenance run`: recorded, not notified (someone is there)
        session.rollback()
        runs.finish(session, run, status=runs.FAILED, now=clock(), summary=None, error="interrupted (Ctrl-C)")
        raise
    except Exception as exc:  # a job's failure is recorded and notified; the worker goes on
        # A hand run prints the error itself; a worker's log keeps the traceback for whoever looks later.
        log.error("maintenance job failed", exc_info=run.trigger != "cli",
                  extra={"job": run.job, "run_id": run.id, "error": mask_text(f"{type(exc).__name__}: {exc}")})
        return _failed(session, run, settings, f"{type(exc).__name__}: {exc}", clock)
    status = runs.FAILED if result.failed else runs.SUCCEEDED
    runs.finish(session, run, status=status, now=clock(), summary=mask_text(result.summary), counts=result.counts)
    log.info("maintenance job finished", extra={"job": run.job, "run_id": run.id, "status": status,
                                                "duration_s": round(time.monotonic() - started, 3),
                                                "summary": result.summary})
    if result.failed:
        _notify(session, run, settings, result.summary, clock)
    return RunOutcome(run, result)


def _failed(session, run: MaintenanceRun, settings: Settings, error: str, clock) -> RunOutcome:
    session.rollback()
    error = mask_text(error)[:ERROR_MAX_CHARS]
    runs.finish(session, run, status=runs.FAILED, now=clock(), summary=None, error=error)
    _notify(session, run, settings, error, clock)
    return RunOutcome(run, None)


def _notify(session, run: MaintenanceRun, settings: Settings, problem: str, clock) -> None:
    message = Message(subject=f"maintenance job {run.job} failed", level="error", kind="maintenance",
                      fields={"job": run.job, "run": run.id, "problem": problem, "host": run.host})
    enqueue(session, message, channel=settings.maintenance_channel, now=clock(),
            cooldown_s=settings.notification_cooldown_s)
    session.commit()


def _lease_renewer(sessions, name: str, holder: str, ttl_s: float, clock) -> Callable[[], None]:
    """Renews the lock at most every third of its lifetime, so a long hand-run job keeps it.

    Timed by the same clock as the lease's expiry.
    """
    last = [clock()]

    def renew() -> None:
        now = clock()
        if (now - last[0]).total_seconds() < ttl_s / 3:
            return
        with sessions() as session:
            if not leases.acquire(session, lease_name(name), holder, now=now, ttl_s=ttl_s):
                log.warning("maintenance job lost its lock to another run", extra={"job": name})
        last[0] = now

    return renew
