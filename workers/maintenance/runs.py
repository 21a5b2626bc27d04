"""The maintenance_runs table: start, finish, skip, and what the last runs were."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workers.storage.models import MaintenanceRun

RUNNING, SUCCEEDED, FAILED, SKIPPED = "running", "succeeded", "failed", "skipped"
ABANDONED = "the process running it died or was killed (hard time limit) before it finished"


def start(session: Session, job: str, *, trigger: str, host: str, now: datetime) -> MaintenanceRun:
    run = MaintenanceRun(job=job, trigger=trigger, host=host, status=RUNNING, started_at=now, counts={})
    session.add(run)
    session.commit()
    return run


def skip(session: Session, job: str, *, trigger: str, host: str, now: datetime, reason: str) -> MaintenanceRun:
    run = MaintenanceRun(job=job, trigger=trigger, host=host, status=SKIPPED, started_at=now,
                         finished_at=now, counts={}, summary=reason)
    session.add(run)
    session.commit()
    return run


def finish(session: Session, run: MaintenanceRun, *, status: str, now: datetime, summary: str | None,
           counts: dict[str, Any] | None = None, error: str | None = None) -> MaintenanceRun:
    run.status, run.finished_at, run.summary, run.counts, run.error = status, now, summary, counts or {}, error
    session.commit()
    return run


def close_abandoned(session: Session, job: str, *, keep_id: int, now: datetime) -> list[MaintenanceRun]:
    """Runs of `job` still marked running while this one holds its lock died without finishing."""
    abandoned = list(session.scalars(select(MaintenanceRun).where(
        MaintenanceRun.job == job, MaintenanceRun.status == RUNNING, MaintenanceRun.id != keep_id)))
    if abandoned:
        session.execute(update(MaintenanceRun).where(MaintenanceRun.id.in_([run.id for run in abandoned]))
                        .values(status=FAILED, finished_at=now, error=ABANDONED)
                        .execution_options(synchronize_session="fetch"))
    session.commit()
    return abandoned


def latest_by_job(session: Session) -> dict[str, MaintenanceRun]:
    """Each job's most recent run."""
    newest = (select(MaintenanceRun.job, func.max(MaintenanceRun.id).label("id"))
              .group_by(MaintenanceRun.job).subquery())
    rows = session.scalars(select(MaintenanceRun).join(newest, MaintenanceRun.id == newest.c.id))
    return {run.job: run for run in rows}


def history(session: Session, *, job: str | None, limit: int) -> list[MaintenanceRun]:
    query = select(MaintenanceRun).order_by(MaintenanceRun.id.desc()).limit(limit)
    if job:
        query = query.where(MaintenanceRun.job == job)
    return list(session.scalars(query))


def duration_s(run: MaintenanceRun) -> float | None:
    if run.finished_at is None:
        return None
    return (run.finished_at - run.started_at).total_seconds()
