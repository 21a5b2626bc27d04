"""The database's part of a health snapshot. Every query is index-backed and bounded:

- errors by category: the newest occurrences within the window, at most ERROR_SAMPLE_MAX_ROWS
  (occurrences(received_at), scanned backwards);
- finished executions: executions(state, updated_at), updated_at >= the window's start (an
  execution's updated_at is never before its finished_at);
- dead letters: executions(state, updated_at), state = dead;
- both count only recoveries that were tried: an execution with an attempt of a call step (retry,
  fallback, compensate, action), found through attempts(execution_id, step_kind). One that only
  notified or escalated (an event without a target, from before intake stopped starting those;
  migration 0006 deleted the older ones) is not a failed recovery.
- the newest verified backup: backups(created_at), the backups table is small (retention);
- when the database was set up: the one-row installation table (migration 0007).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from workers.recovery.plans import CALL_KINDS
from workers.recovery.states import DEAD, FAILED, SUCCEEDED
from workers.storage.models import Attempt, Backup, Execution, Installation, Occurrence

# A burst within the window is measured over its newest rows only, so a snapshot stays fast.
ERROR_SAMPLE_MAX_ROWS = 50_000
# Outcomes of recovery; a cancelled execution was stopped by an operator and says nothing about recovery.
OUTCOME_STATES = (SUCCEEDED, FAILED, DEAD)
VERIFIED = "ok"


@dataclass(frozen=True)
class ErrorCounts:
    by_category: dict[str, int]
    span_s: float  # the time the counts cover: the window, or less when the sample was capped


def errors_by_category(session: Session, *, since: datetime, now: datetime,
                       max_rows: int = ERROR_SAMPLE_MAX_ROWS) -> ErrorCounts:
    newest = (select(Occurrence.category, Occurrence.received_at).where(Occurrence.received_at >= since)
              .order_by(Occurrence.received_at.desc()).limit(max_rows).subquery())
    rows = session.execute(select(newest.c.category, func.count(), func.min(newest.c.received_at))
                           .group_by(newest.c.category)).all()
    counts = {category: count for category, count, _ in rows}
    span_s = (now - since).total_seconds()
    if sum(counts.values()) >= max_rows:
        oldest = min(first for _, _, first in rows)
        span_s = max(1.0, (now - oldest).total_seconds())
    return ErrorCounts(dict(sorted(counts.items())), span_s)


def finished_by_state(session: Session, *, since: datetime) -> dict[str, int]:
    """Executions that reached an outcome since `since`, by state."""
    rows = session.execute(
        select(Execution.state, func.count())
        .where(Execution.state.in_(OUTCOME_STATES), Execution.updated_at >= since,
               Execution.finished_at >= since, tried())
        .group_by(Execution.state)).all()
    return {state: count for state, count in rows}


def dead_letters(session: Session) -> int:
    """Recoveries that were tried and ended dead (until replayed or purged)."""
    return session.scalar(select(func.count()).select_from(Execution).where(Execution.state == DEAD, tried())) or 0


def tried() -> ColumnElement[bool]:
    """The execution attempted a call step: it tried to recover, not only to tell someone."""
    return exists().where(Attempt.execution_id == Execution.id, Attempt.step_kind.in_(CALL_KINDS))


def last_good_backup_at(session: Session) -> datetime | None:
    """When the newest backup that passed verification and still exists was made."""
    return session.scalar(select(Backup.created_at).where(Backup.verification == VERIFIED, Backup.deleted_at.is_(None))
                          .order_by(Backup.created_at.desc()).limit(1))


def installed_at(session: Session) -> datetime | None:
    """When this database was set up (migration 0007)."""
    return session.scalar(select(Installation.installed_at).where(Installation.id == 1))


def database_size_bytes(session: Session) -> int | None:
    """PostgreSQL: the whole database; SQLite: the file and its write-ahead log."""
    url = session.get_bind().engine.url
    if url.get_backend_name() == "postgresql":
        return session.scalar(select(func.pg_database_size(func.current_database())))
    if not url.database or url.database == ":memory:":
        return None
    return sum(os.path.getsize(path) for path in (url.database, url.database + "-wal") if os.path.exists(path))


def window_start(now: datetime, window_s: float) -> datetime:
    return now - timedelta(seconds=window_s)
