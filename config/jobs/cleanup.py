"""Settings of the cleanup job (workers/maintenance/cleanup.py, docs/maintenance/cleanup.md).

Each retention is in days; 0 keeps that kind of record forever.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def _days(default: int, what: str) -> Any:
    return Field(default, ge=0, le=36_500,
                 description=f"{what} older than this many days are deleted; 0: kept forever.")


class CleanupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # SQLite allows at most 32,766 bound parameters per statement; a batch's ids are bound one each.
    batch_size: int = Field(
        1000, ge=1, le=10_000,
        description="Rows deleted per transaction (one short transaction per batch).")
    # A batch of 1000 takes 10-70 ms (PostgreSQL and SQLite alike, docs/maintenance/cleanup.md): with this
    # pause, intake gets SQLite's write lock most of the time.
    pause_between_batches_ms: int = Field(
        100, ge=0, le=60_000,
        description="Pause after each batch, so that intake's writes get "
                    "the SQLite lock and PostgreSQL replicas keep up.")

    resolved_groups_days: int = _days(
        90, "Resolved error groups (by last seen), with their occurrences and executions,")
    finished_executions_days: int = _days(
        30, "Finished executions (succeeded, failed, dead, cancelled; by finish time), with their attempts,")
    audit_days: int = _days(365, "Audit rows of deleted executions (by time)")
    rejected_events_days: int = _days(30, "Rejected events (by receipt)")
    maintenance_runs_days: int = _days(90, "Maintenance run rows (by start; the latest run of each job is always kept)")
    health_snapshots_days: int = _days(14, "Health snapshots")
    notifications_days: int = _days(
        30, "Sent and suppressed notifications (by creation; pending ones are never deleted)")
    resolved_alerts_days: int = _days(90, "Resolved alerts (by resolution)")
    breaker_transitions_days: int = _days(90, "Circuit breaker transitions")
    reconciliation_log_days: int = _days(90, "Reconciliation log entries")

    broker_delivered_retention_s: int = Field(
        86_400, ge=0,
        description="Embedded broker (kombu's SQLAlchemy transport on SQLite): message rows a "
                    "worker took more than this many seconds ago are deleted; 0: kept forever.")
