"""The maintenance jobs with their schedule and last run, past runs, and backup archives, as rows.

What `medic maintenance list|runs`, `medic backup list` and the console's Maintenance and Backups pages
show: one query and one shape for all of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from workers.maintenance import runs
from workers.maintenance.backup import catalog
from workers.maintenance.registry import JOBS
from workers.storage.models import Backup, MaintenanceRun

SWEEP = "recovery-sweep"  # listed with the jobs, but a recovery task: it records no run rows


def run_dict(run: MaintenanceRun) -> dict[str, Any]:
    return {"id": run.id, "job": run.job, "trigger": run.trigger, "host": run.host, "status": run.status,
            "started_at": run.started_at, "finished_at": run.finished_at,
            "duration_s": runs.duration_s(run), "counts": run.counts, "summary": run.summary, "error": run.error}


def job_rows(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Every job: its schedule, limits and last run (None: never run); the recovery sweep last."""
    latest = latest_runs(session, list(JOBS))
    rows: list[dict[str, Any]] = []
    for name, spec in JOBS.items():
        schedule = settings.schedules[name]
        rows.append({"job": name, "description": spec.description, "enabled": schedule.enabled,
                     "schedule": schedule.describe(), "soft_time_limit_s": schedule.soft_time_limit_s,
                     "time_limit_s": schedule.time_limit_s,
                     "last_run": run_dict(latest[name]) if name in latest else None})
    rows.append({"job": SWEEP, "description": "Due retries, lost messages, deadlines, notifications "
                 "(on the medic.recovery queue; no run rows).", "enabled": True,
                 "schedule": f"every {settings.recovery_sweep_interval_s:g}s",
                 "soft_time_limit_s": settings.task_soft_time_limit_s, "time_limit_s": settings.task_time_limit_s,
                 "last_run": None})
    return rows


def latest_runs(session: Session, jobs: list[str]) -> dict[str, MaintenanceRun]:
    """The newest run of each of `jobs`: one index lookup each (ix_maintenance_runs_job_started), so the cost
    does not grow with the 90 days of runs kept (runs.latest_by_job, which cleanup uses, scans them all)."""
    latest = {}
    for job in jobs:
        run = session.scalar(select(MaintenanceRun).where(MaintenanceRun.job == job)
                             .order_by(MaintenanceRun.started_at.desc(), MaintenanceRun.id.desc()).limit(1))
        if run is not None:
            latest[job] = run
    return latest


def run_rows(session: Session, *, job: str | None, limit: int) -> list[dict[str, Any]]:
    """Past runs, newest first."""
    return [run_dict(run) for run in runs.history(session, job=job, limit=limit)]


def backup_dict(row: Backup) -> dict[str, Any]:
    return {"name": row.name, "path": row.path, "created_at": row.created_at, "database_kind": row.database_kind,
            "size_bytes": row.size_bytes, "sha256": row.sha256, "schema_revision": row.manifest.get("schema_revision"),
            "medic_version": row.manifest.get("medic_version"), "verification": row.verification,
            "verified_at": row.verified_at, "verification_detail": row.verification_detail,
            "deleted_at": row.deleted_at}


def backup_rows(session: Session, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    """Registered archives, newest first."""
    return [backup_dict(row) for row in catalog.listed(session, include_deleted=include_deleted)]
