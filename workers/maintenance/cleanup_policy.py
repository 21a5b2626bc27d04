"""What the cleanup job deletes, as of when: the cutoff per kind of record, its time budget, its summary.

Pure: settings and the clock in, values out.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from config.jobs.cleanup import CleanupSettings
from config.settings import Settings
from workers.maintenance.broker_prune import broker_file

# Kind of record -> its retention setting, in the order the job works. Audit rows come first: those
# whose execution this run deletes wait for the next run, so a dry run counts exactly what a run
# deletes. Finished executions come before groups, which delete the executions left.
RETENTION_DAYS = {
    "audit": "audit_days",
    "executions": "finished_executions_days",
    "groups": "resolved_groups_days",
    "rejected_events": "rejected_events_days",
    "maintenance_runs": "maintenance_runs_days",
    "health_snapshots": "health_snapshots_days",
    "notifications": "notifications_days",
    "alerts": "resolved_alerts_days",
    "breaker_transitions": "breaker_transitions_days",
    "reconciliation_log": "reconciliation_log_days",
}
# Rows that carry their own expiry (expires_at): deleted once it has passed, whatever the retention settings.
EXPIRING = ("console_logouts",)
# Deleted with their group, counted on their own.
GROUP_CHILDREN = ("group_executions", "group_occurrences")
BROKER = "broker_messages"
COUNTED = (*RETENTION_DAYS, *EXPIRING, *GROUP_CHILDREN, BROKER)

# New batches stop once this share of the soft time limit is used: the batch under way then ends
# well before Celery interrupts the job, and the next run goes on from there.
BUDGET_SHARE = 0.9


def cutoffs(settings: CleanupSettings, now: datetime) -> dict[str, datetime]:
    """Kind -> records older than this are expired. Kinds whose retention is 0 are left out."""
    days = {kind: getattr(settings, field) for kind, field in RETENTION_DAYS.items()}
    return {kind: now - timedelta(days=value) for kind, value in days.items() if value > 0}


def expiry_cutoffs(now: datetime) -> dict[str, datetime]:
    """Expiring kind -> records whose expires_at is before this are deleted."""
    return dict.fromkeys(EXPIRING, now)


def broker_cutoff(now: datetime, retention_s: int, *, local: tzinfo | None = None) -> datetime | None:
    """Delivered broker rows taken before this are pruned; None: disabled.

    kombu stamps a row with `datetime.now()` when a worker takes it: naive, local time.
    """
    if retention_s <= 0:
        return None
    return (now - timedelta(seconds=retention_s)).astimezone(local).replace(tzinfo=None)


def longest_hold_s(settings: Settings) -> float:
    """The longest a worker may hold a message it took: the longest countdown plus the longest hard time limit."""
    limits = [settings.task_time_limit_s, *(schedule.time_limit_s for schedule in settings.schedules.values())]
    return settings.recovery_countdown_max_s + max(limits)


def broker_retention_problem(settings: Settings) -> str | None:
    """Why the broker retention is too short to leave every message in flight alone, or None.

    None with any broker but the embedded one (Redis, RabbitMQ): nothing is pruned from it."""
    if broker_file(settings.broker_url) is None:
        return None
    retention_s, hold_s = settings.cleanup.broker_delivered_retention_s, longest_hold_s(settings)
    if 0 < retention_s < hold_s:
        return (f"MEDIC_CLEANUP__BROKER_DELIVERED_RETENTION_S ({retention_s}) must be 0 or at least {hold_s:g}: "
                f"a worker may hold a message that long (the longest countdown plus the longest hard time limit)")
    return None


def time_budget_s(soft_time_limit_s: float) -> float:
    return soft_time_limit_s * BUDGET_SHARE


def summary(counts: dict[str, int], *, dry_run: bool, stopped: bool) -> str:
    found = {kind: counts[kind] for kind in COUNTED if counts.get(kind)}
    listed = ", ".join(f"{kind} {number}" for kind, number in found.items())
    if dry_run:
        return f"dry run: would delete {listed}" if found else "dry run: nothing past retention"
    text = f"deleted {listed} in {counts.get('batches', 0)} batch(es)" if found else "nothing past retention"
    if stopped:
        text += "; stopped at the time budget, the next run goes on"
    return text
