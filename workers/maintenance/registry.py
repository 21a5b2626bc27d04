"""The maintenance jobs: name -> where its function lives and what it does.

Schedules and limits are settings (config/jobs/schedule.py); both lists name the same jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kombu.utils.imports import symbol_by_name

from config.errors import NotFound
from workers.maintenance.job import JobContext, JobResult


@dataclass(frozen=True)
class JobSpec:
    name: str
    target: str  # "module:function", imported when the job runs
    description: str
    dry_run: bool = False  # whether `--dry-run` means something for it

    def function(self) -> Callable[[JobContext], JobResult]:
        return symbol_by_name(self.target)


JOBS: dict[str, JobSpec] = {spec.name: spec for spec in (
    JobSpec("stuck", "workers.maintenance.stuck.job:run",
            "Find executions that stopped making progress; requeue them, escalate after repeated requeues.",
            dry_run=True),
    JobSpec("health", "workers.maintenance.health.job:run",
            "Record a health snapshot, derive the status, open and resolve alerts."),
    JobSpec("reconcile", "workers.maintenance.reconcile.job:run",
            "Check medic's own consistency and the configured application checks; fix what is allowed.",
            dry_run=True),
    JobSpec("log-rotation", "workers.maintenance.logrotate:run",
            "Rotate, compress and expire log files by size, age, count and total size.", dry_run=True),
    JobSpec("cleanup", "workers.maintenance.cleanup:run",
            "Delete records past their retention in small batches; prune the embedded broker.", dry_run=True),
    JobSpec("backup", "workers.maintenance.backup.job:run",
            "Back up the database and config files, verify the archive, apply retention."),
    JobSpec("db-maintenance", "workers.maintenance.dbmaint:run",
            "ANALYZE and VACUUM (PostgreSQL), PRAGMA optimize and integrity_check (SQLite)."),
)}


def get_job(name: str) -> JobSpec:
    try:
        return JOBS[name]
    except KeyError:
        raise NotFound(f"no maintenance job {name!r}; jobs: {', '.join(JOBS)}") from None
