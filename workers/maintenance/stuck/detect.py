"""Finding stuck executions, and what the policy does with each.

One index-backed query per way an unfinished execution stops moving:

- running_past_deadline: its attempt is running past the deadline by more than the grace
  (attempts(state, deadline_at));
- never_sent: its attempt is due, but the run message was never sent (attempts(state, scheduled_for));
- unclaimed: its attempt's message was sent, yet nobody claimed it long after it was due (same index);
- no_open_attempt: pending, running or waiting with no scheduled or running attempt at all,
  unchanged for a while (executions(state, updated_at), then attempts(execution_id)).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, null, or_, select
from sqlalchemy.orm import Session

from config.jobs.stuck import StuckSettings
from workers.maintenance.stuck.policy import (
    ESCALATED_ACTION,
    OPERATOR_PREFIX,
    REQUEUE_ACTION,
    Decision,
    History,
    decide,
    history_of,
)
from workers.recovery.states import OPEN_ATTEMPT_STATES, PENDING, RUNNING, SCHEDULED, WAITING
from workers.storage.models import Attempt, AuditEntry, Execution

RUNNING_PAST_DEADLINE, NEVER_SENT, UNCLAIMED, NO_OPEN_ATTEMPT = (
    "running_past_deadline", "never_sent", "unclaimed", "no_open_attempt")
KINDS = (RUNNING_PAST_DEADLINE, NEVER_SENT, UNCLAIMED, NO_OPEN_ATTEMPT)
UNFINISHED = (PENDING, RUNNING, WAITING)
IDS_PER_QUERY = 500  # an IN list well within SQLite's limit of bound parameters


@dataclass(frozen=True)
class Stuck:
    kind: str
    execution_id: int
    attempt_id: int | None  # the open attempt; None for no_open_attempt
    state: str  # the execution's
    step_index: int
    since: datetime  # when progress was due: the deadline, the due time, or the last change


@dataclass(frozen=True)
class Planned:
    item: Stuck
    history: History
    decision: Decision


def plan(session: Session, stuck_settings: StuckSettings, now: datetime, *, limit: int | None = None) -> list[Planned]:
    """The stuck executions now (at most `limit`, default max_per_run) and the policy's decision for each."""
    items = find_stuck(session, stuck_settings, now, limit=limit or stuck_settings.max_per_run)
    known = histories(session, [item.execution_id for item in items])
    return [Planned(item, known[item.execution_id],
                    decide(known[item.execution_id], max_requeues=stuck_settings.max_requeues)) for item in items]


def count_stuck(session: Session, stuck_settings: StuckSettings, now: datetime) -> int:
    """How many executions are stuck now (for health snapshots)."""
    return sum(session.scalar(select(func.count()).select_from(query.subquery())) or 0
               for query in _queries(stuck_settings, now).values())


def find_stuck(session: Session, stuck_settings: StuckSettings, now: datetime, *, limit: int) -> list[Stuck]:
    """The stuck executions, longest stuck first, at most `limit`."""
    found = []
    for kind, query in _queries(stuck_settings, now).items():
        rows = session.execute(query.order_by("since").limit(limit))
        found += [Stuck(kind, row.execution_id, row.attempt_id, row.state, row.step_index, row.since)
                  for row in rows]
    return sorted(found, key=lambda item: (item.since, item.execution_id))[:limit]


def histories(session: Session, execution_ids: Iterable[int]) -> dict[int, History]:
    """Each execution's requeues and escalation, from its audit rows (by execution_audit(execution_id, at))."""
    ids = sorted(set(execution_ids))
    entries: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for start in range(0, len(ids), IDS_PER_QUERY):
        rows = session.execute(
            select(AuditEntry.execution_id, AuditEntry.actor, AuditEntry.action)
            .where(AuditEntry.execution_id.in_(ids[start:start + IDS_PER_QUERY]),
                   or_(AuditEntry.action.in_((REQUEUE_ACTION, ESCALATED_ACTION)),
                       AuditEntry.actor.startswith(OPERATOR_PREFIX)))
            .order_by(AuditEntry.execution_id, AuditEntry.at, AuditEntry.id))
        for execution_id, actor, action in rows:
            entries[execution_id].append((actor, action))
    return {execution_id: history_of(entries[execution_id]) for execution_id in ids}


def _queries(stuck_settings: StuckSettings, now: datetime) -> dict[str, Select[Any]]:
    def ago(seconds: float) -> datetime:
        return now - timedelta(seconds=seconds)

    open_attempt = exists().where(Attempt.execution_id == Execution.id, Attempt.state.in_(OPEN_ATTEMPT_STATES))
    return {
        RUNNING_PAST_DEADLINE: _attempts(RUNNING, Attempt.deadline_at, ago(stuck_settings.running_grace_s)),
        NEVER_SENT: _attempts(SCHEDULED, Attempt.scheduled_for, ago(stuck_settings.undispatched_after_s),
                              Attempt.dispatched_at.is_(None)),
        UNCLAIMED: _attempts(SCHEDULED, Attempt.scheduled_for, ago(stuck_settings.overdue_after_s),
                             Attempt.dispatched_at.is_not(None)),
        NO_OPEN_ATTEMPT: (
            select(Execution.id.label("execution_id"), null().label("attempt_id"), Execution.state,
                   Execution.step_index, Execution.updated_at.label("since"))
            .where(Execution.state.in_(UNFINISHED), Execution.updated_at <= ago(stuck_settings.no_attempt_after_s),
                   ~open_attempt)),
    }


def _attempts(state: str, since: Any, cutoff: datetime, *more: ColumnElement[bool]) -> Select[Any]:
    """Open attempts in `state` whose `since` is at or before `cutoff`, of unfinished executions."""
    return (select(Attempt.execution_id, Attempt.id.label("attempt_id"), Execution.state, Execution.step_index,
                   since.label("since"))
            .join(Execution, Execution.id == Attempt.execution_id)
            .where(Attempt.state == state, since <= cutoff, Execution.state.in_(UNFINISHED), *more))
