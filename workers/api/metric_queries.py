"""The database reads behind /metrics. Totals come from the small tables where they exist
(error_groups keeps each group's occurrence count), so a scrape does not count a million rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from workers.storage.models import Attempt, ErrorGroup, Execution, MaintenanceRun, RejectedEvent

SUCCEEDED_RUN = "succeeded"


def occurrences_by_triage(session: Session) -> dict[tuple[str, str], int]:
    """Occurrences ever accepted, by the (category, severity) of their group."""
    rows = session.execute(select(ErrorGroup.category, ErrorGroup.severity, func.sum(ErrorGroup.occurrence_count))
                           .group_by(ErrorGroup.category, ErrorGroup.severity))
    return {(category, severity): int(total or 0) for category, severity, total in rows}


def occurrences_by_service(session: Session) -> dict[str, int]:
    """Occurrences ever accepted, by the service their senders named."""
    rows = session.execute(select(ErrorGroup.service, func.sum(ErrorGroup.occurrence_count))
                           .group_by(ErrorGroup.service))
    return {service: int(total or 0) for service, total in rows}


def rejected_events(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RejectedEvent)) or 0


def groups_by_status(session: Session) -> dict[str, int]:
    return dict(session.execute(select(ErrorGroup.status, func.count()).group_by(ErrorGroup.status)).tuples().all())


def executions_by_state(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Execution.state, func.count()).group_by(Execution.state)).tuples().all())


def attempts_by_outcome(session: Session) -> dict[str, int]:
    """Finished attempts by outcome (an attempt in flight has none yet)."""
    rows = session.execute(select(Attempt.outcome, func.count()).where(Attempt.outcome.is_not(None))
                           .group_by(Attempt.outcome)).tuples()
    return {outcome: count for outcome, count in rows if outcome is not None}  # None never comes: for the types


def last_success_by_job(session: Session, jobs: Iterable[str]) -> dict[str, datetime]:
    """When each job last succeeded: one lookup per job on maintenance_runs(job, status, finished_at),
    instead of grouping every succeeded run (a year of a job every minute is half a million rows)."""
    latest = union_all(*(select(literal(job).label("job"), func.max(MaintenanceRun.finished_at).label("finished_at"))
                         .where(MaintenanceRun.job == job, MaintenanceRun.status == SUCCEEDED_RUN) for job in jobs))
    return {job: finished for job, finished in session.execute(select(latest.subquery())) if finished is not None}
