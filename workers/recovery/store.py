"""The SQL of recovery: executions, attempts and their audit rows. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from workers.recovery.dead_filters import DeadFilter, DeadLetter
from workers.recovery.plans import PlanSpec
from workers.recovery.states import DEAD, FINISHED, OPEN_ATTEMPT_STATES, RUNNING, SCHEDULED
from workers.storage.db import rows_changed
from workers.storage.models import Attempt, AuditEntry, Execution, Occurrence


@dataclass(frozen=True)
class Actor:
    """Who or what made a change, as written in the audit: worker:<host>, sweeper, operator:<name>."""

    name: str


@dataclass(frozen=True)
class Note:
    """An audit row that goes with a change and says why it was made (the stuck job's requeue)."""

    action: str
    reason: str
    detail: dict[str, Any] | None = None


def write_note(session: Session, execution: Execution, note: Note, *, at: datetime, actor: Actor,
               attempt_id: int | None = None) -> None:
    audit(session, execution, at=at, actor=actor, action=note.action, reason=note.reason, attempt_id=attempt_id,
          detail=note.detail)


def audit(session: Session, execution: Execution | None, *, at: datetime, actor: Actor, action: str,
          from_state: str | None = None, to_state: str | None = None, reason: str | None = None,
          attempt_id: int | None = None, detail: dict[str, Any] | None = None) -> None:
    session.add(AuditEntry(execution_id=execution.id if execution else None, attempt_id=attempt_id, at=at,
                           actor=actor.name, action=action, from_state=from_state, to_state=to_state,
                           reason=reason, detail=detail))


def execution_row(*, group_id: int, occurrence_id: int, plan: PlanSpec, plan_snapshot: dict[str, Any] | None = None,
                  service: str, category: str, now: datetime, replay_of: int | None = None,
                  **fields: Any) -> dict[str, Any]:
    """A new execution's columns: pending at its first step unless `fields` say otherwise."""
    row: dict[str, Any] = {
        "group_id": group_id, "occurrence_id": occurrence_id, "replay_of": replay_of, "plan_name": plan.name,
        "plan": plan_snapshot or plan.model_dump(mode="json"), "service": service, "category": category,
        "state": "pending", "run": 1, "step_index": 0, "next_attempt_at": None, "created_at": now,
        "updated_at": now, "finished_at": None, "reason": None, "version": 1}
    row.update(fields)
    return row


def create_execution(session: Session, **fields: Any) -> Execution:
    execution = Execution(**execution_row(**fields))
    session.add(execution)
    session.flush()
    return execution


def transition(session: Session, execution: Execution, to_state: str, *, now: datetime, actor: Actor, action: str,
               reason: str | None = None, attempt_id: int | None = None, detail: dict[str, Any] | None = None,
               **changes: Any) -> None:
    """Move an execution and write its audit row; the caller commits both together."""
    from_state = execution.state
    execution.state = to_state
    execution.updated_at = now
    execution.reason = reason
    for name, value in changes.items():
        setattr(execution, name, value)
    if to_state in FINISHED:
        execution.finished_at = now
        execution.next_attempt_at = None
    audit(session, execution, at=now, actor=actor, action=action, from_state=from_state, to_state=to_state,
          reason=reason, attempt_id=attempt_id, detail=detail)


@dataclass(frozen=True)
class Claim:
    """An attempt written already claimed (running) by the transaction that creates it."""

    at: datetime
    by: Actor
    deadline_at: datetime


def attempt_row(*, run: int, step_index: int, step_kind: str, number: int, scheduled_for: datetime,
                dispatched_at: datetime | None, claim: Claim | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run": run, "step_index": step_index, "step_kind": step_kind, "number": number, "state": SCHEDULED,
        "scheduled_for": scheduled_for, "dispatched_at": dispatched_at, "dispatch_count": 1 if dispatched_at else 0,
        "claimed_at": None, "claimed_by": None, "deadline_at": None, "sent_at": None}
    if claim is not None:  # a Celery replay to publish after the commit: not sent yet
        row.update(state=RUNNING, claimed_at=claim.at, claimed_by=claim.by.name, deadline_at=claim.deadline_at)
    return row


def add_attempt(session: Session, execution: Execution, *, step_index: int, step_kind: str, number: int,
                scheduled_for: datetime, dispatched_at: datetime | None, claim: Claim | None = None) -> Attempt:
    attempt = Attempt(execution_id=execution.id, **attempt_row(
        run=execution.run, step_index=step_index, step_kind=step_kind, number=number, scheduled_for=scheduled_for,
        dispatched_at=dispatched_at, claim=claim))
    session.add(attempt)
    session.flush()
    return attempt


def claim(session: Session, attempt_id: int, *, now: datetime, actor: Actor, deadline_at: datetime,
          sent_at: datetime | None, detail: dict[str, Any] | None = None) -> bool:
    """scheduled -> running, once: of two workers handed the same attempt, one gets True. `sent_at`:
    None for a Celery replay (marked by mark_sent once published), else the claim's time."""
    statement = (
        update(Attempt)
        .where(Attempt.id == attempt_id, Attempt.state == SCHEDULED, Attempt.scheduled_for <= now)
        .values(state=RUNNING, claimed_at=now, claimed_by=actor.name, deadline_at=deadline_at, sent_at=sent_at,
                detail=detail)
        .execution_options(synchronize_session=False))
    return rows_changed(session, statement) == 1


def mark_sent(session: Session, attempt_ids: list[int], *, now: datetime) -> None:
    """Claimed Celery replays whose task is published now (one still running: a late mark changes nothing)."""
    session.execute(update(Attempt).where(Attempt.id.in_(attempt_ids), Attempt.state == RUNNING,
                                          Attempt.sent_at.is_(None))
                    .values(sent_at=now).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class Unsent:
    attempt_id: int
    execution_id: int
    queue: str | None
    claimed_by: str | None


def unsent_attempts(session: Session, *, claimed_before: datetime, limit: int) -> list[Unsent]:
    """Claimed Celery replays never published (their process stopped between the claim and the send)."""
    query = (select(Attempt.id, Attempt.execution_id, Execution.queue, Attempt.claimed_by)
             .join(Execution, Execution.id == Attempt.execution_id)
             .where(Attempt.state == RUNNING, Attempt.sent_at.is_(None), Attempt.claimed_at <= claimed_before)
             .order_by(Attempt.claimed_at).limit(limit))
    return [Unsent(*row) for row in session.execute(query)]


def finish(session: Session, attempt: Attempt, *, state: str, outcome: str, error: str | None,
           detail: dict[str, Any], now: datetime) -> bool:
    """running -> a final state, once: a late or duplicated outcome gets False and changes nothing."""
    statement = (
        update(Attempt).where(Attempt.id == attempt.id, Attempt.state == RUNNING)
        .values(state=state, outcome=outcome, error=error, finished_at=now,
                detail={**(attempt.detail or {}), **detail})
        .execution_options(synchronize_session=False))
    return rows_changed(session, statement) == 1


def unclaim(session: Session, attempt_id: int, *, scheduled_for: datetime, dispatched_at: datetime | None,
            detail: dict[str, Any] | None = None) -> bool:
    """running -> scheduled again (a deferral): it did not run, so it is not counted. `detail` marks why
    (BREAKER_DEFERRED); the next claim clears it."""
    statement = (
        update(Attempt).where(Attempt.id == attempt_id, Attempt.state == RUNNING)
        .values(state=SCHEDULED, scheduled_for=scheduled_for, claimed_at=None, claimed_by=None, deadline_at=None,
                sent_at=None, dispatched_at=dispatched_at, detail=detail)
        .execution_options(synchronize_session=False))
    return rows_changed(session, statement) == 1


# The mark in an attempt's detail that it waits behind its service's open breaker (not for its backoff).
BREAKER_DEFERRED = "breaker_deferred"


@dataclass(frozen=True)
class Deferred:
    attempt_id: int
    execution_id: int
    queue: str | None
    scheduled_for: datetime


def deferred_by_breaker(session: Session, service: str, *, limit: int) -> list[Deferred]:
    """The attempts of `service` waiting behind its breaker (unclaim with BREAKER_DEFERRED), soonest first."""
    query = (select(Attempt.id, Attempt.execution_id, Execution.queue, Attempt.scheduled_for, Attempt.detail)
             .join(Execution, Execution.id == Attempt.execution_id)
             .where(Attempt.state == SCHEDULED, Attempt.step_kind == "retry", Execution.service == service)
             .order_by(Attempt.scheduled_for).limit(limit))
    return [Deferred(attempt_id, execution_id, queue, scheduled_for)
            for attempt_id, execution_id, queue, scheduled_for, detail in session.execute(query)
            if (detail or {}).get(BREAKER_DEFERRED)]


def release_deferred(session: Session, deferred: Deferred, *, scheduled_for: datetime, dispatched_at: datetime | None,
                     now: datetime, actor: Actor, reason: str) -> bool:
    """A deferred attempt due sooner (its mark cleared), its execution's next_attempt_at with it, audited.
    False if it was claimed, cancelled or released by another meanwhile (its time is no longer the one read)."""
    statement = (
        update(Attempt).where(Attempt.id == deferred.attempt_id, Attempt.state == SCHEDULED,
                              Attempt.scheduled_for == deferred.scheduled_for)
        .values(scheduled_for=scheduled_for, dispatched_at=dispatched_at, detail=None,
                dispatch_count=Attempt.dispatch_count + (1 if dispatched_at else 0))
        .execution_options(synchronize_session=False))
    if rows_changed(session, statement) != 1:
        return False
    session.execute(update(Execution).where(Execution.id == deferred.execution_id, Execution.state.not_in(FINISHED))
                    .values(next_attempt_at=scheduled_for, updated_at=now, version=Execution.version + 1)
                    .execution_options(synchronize_session=False))
    session.add(AuditEntry(execution_id=deferred.execution_id, attempt_id=deferred.attempt_id, at=now,
                           actor=actor.name, action="released", reason=reason,
                           detail={"due_in_s": round((scheduled_for - now).total_seconds(), 3)}))
    return True


def reschedule(session: Session, attempt_id: int, *, scheduled_for: datetime, dispatched_at: datetime | None) -> bool:
    statement = (
        update(Attempt).where(Attempt.id == attempt_id, Attempt.state == SCHEDULED)
        .values(scheduled_for=scheduled_for, dispatched_at=dispatched_at,
                dispatch_count=Attempt.dispatch_count + (1 if dispatched_at else 0))
        .execution_options(synchronize_session=False))
    return rows_changed(session, statement) == 1


def cancel_open_attempts(session: Session, execution_id: int, *, now: datetime) -> int:
    return rows_changed(session, update(Attempt)
                        .where(Attempt.execution_id == execution_id, Attempt.state.in_(OPEN_ATTEMPT_STATES))
                        .values(state="cancelled", finished_at=now).execution_options(synchronize_session=False))


def open_attempt(session: Session, execution: Execution) -> Attempt | None:
    query = (select(Attempt).where(Attempt.execution_id == execution.id, Attempt.state.in_(OPEN_ATTEMPT_STATES))
             .order_by(Attempt.id.desc()).limit(1))
    return session.scalars(query).first()


def last_attempt(session: Session, execution: Execution) -> Attempt | None:
    """The newest attempt of the execution's current run."""
    query = (select(Attempt).where(Attempt.execution_id == execution.id, Attempt.run == execution.run)
             .order_by(Attempt.id.desc()).limit(1))
    return session.scalars(query).first()


def last_number(session: Session, execution: Execution, step_index: int) -> int:
    """The highest attempt number of a step in the current run (0: none yet)."""
    return session.scalar(select(func.max(Attempt.number)).where(
        Attempt.execution_id == execution.id, Attempt.run == execution.run, Attempt.step_index == step_index)) or 0


@dataclass(frozen=True)
class Loaded:
    attempt: Attempt
    execution: Execution
    event: dict[str, Any]

    @cached_property
    def plan(self) -> PlanSpec:
        return PlanSpec.model_validate(self.execution.plan)


def load(session: Session, attempt_id: int) -> Loaded | None:
    """An attempt with its execution and the occurrence's event, in one query."""
    row = session.execute(
        select(Attempt, Execution, Occurrence.event)
        .join(Execution, Execution.id == Attempt.execution_id)
        .join(Occurrence, Occurrence.id == Execution.occurrence_id)
        .where(Attempt.id == attempt_id)).first()
    return Loaded(row[0], row[1], row[2] or {}) if row else None


def event_of(session: Session, execution: Execution) -> dict[str, Any]:
    return session.scalar(select(Occurrence.event).where(Occurrence.id == execution.occurrence_id)) or {}


def due_attempts(session: Session, *, now: datetime, redispatch_before: datetime,
                 limit: int) -> list[tuple[int, str | None]]:
    """Scheduled attempts whose time has come and whose message was never sent, or sent long ago
    (lost): (attempt id, its execution's queue) pairs."""
    query = (select(Attempt.id, Execution.queue).join(Execution, Execution.id == Attempt.execution_id)
             .where(Attempt.state == SCHEDULED, Attempt.scheduled_for <= now,
                    or_(Attempt.dispatched_at.is_(None), Attempt.dispatched_at <= redispatch_before))
             .order_by(Attempt.scheduled_for).limit(limit))
    return [(attempt_id, queue) for attempt_id, queue in session.execute(query)]


def mark_dispatched(session: Session, attempt_ids: Iterable[int], *, now: datetime) -> None:
    session.execute(update(Attempt).where(Attempt.id.in_(list(attempt_ids)), Attempt.state == SCHEDULED)
                    .values(dispatched_at=now, dispatch_count=Attempt.dispatch_count + 1)
                    .execution_options(synchronize_session=False))


def expired_attempt_ids(session: Session, *, now: datetime, limit: int) -> list[int]:
    query = (select(Attempt.id).where(Attempt.state == RUNNING, Attempt.deadline_at <= now)
             .order_by(Attempt.deadline_at).limit(limit))
    return list(session.scalars(query))


# --- reading, for operators -----------------------------------------------------------------

def list_executions(session: Session, *, states: Iterable[str] = (), service: str | None = None,
                    group_id: int | None = None, limit: int = 50, offset: int = 0) -> list[Execution]:
    query = select(Execution).order_by(Execution.updated_at.desc(), Execution.id.desc()).limit(limit).offset(offset)
    if states:
        query = query.where(Execution.state.in_(list(states)))
    if service:
        query = query.where(Execution.service == service)
    if group_id:
        query = query.where(Execution.group_id == group_id)
    return list(session.scalars(query))


def attempts_of(session: Session, execution_id: int) -> list[Attempt]:
    return list(session.scalars(select(Attempt).where(Attempt.execution_id == execution_id).order_by(Attempt.id)))


def audit_of(session: Session, execution_id: int) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.execution_id == execution_id)
                                .order_by(AuditEntry.at, AuditEntry.id)))


def delete_executions(session: Session, ids: list[int]) -> int:
    return rows_changed(session, delete(Execution).where(Execution.id.in_(ids))
                        .execution_options(synchronize_session=False))


# --- dead letters in bulk (workers/recovery/dead_filters.py decides) ----------------------------

# Ids per IN (...) list: well under SQLite's limit on bound parameters.
_IDS_PER_QUERY = 1000


def dead_letters(session: Session, selection: DeadFilter, *, execution_ids: Iterable[int] = (),
                 limit: int | None = None) -> list[DeadLetter]:
    """The dead letters the filter selects (and, given ids, only those), oldest death first, each with
    the executions it was replayed as."""
    query = (select(Execution.id, Execution.state, Execution.service, Execution.category, Execution.group_id,
                    Execution.occurrence_id, Execution.finished_at)
             .where(Execution.state == DEAD).order_by(Execution.finished_at, Execution.id))
    ids = list(execution_ids)
    if ids:
        query = query.where(Execution.id.in_(ids))
    if selection.service is not None:
        query = query.where(Execution.service == selection.service)
    if selection.category is not None:
        query = query.where(Execution.category == selection.category)
    if selection.group_id is not None:
        query = query.where(Execution.group_id == selection.group_id)
    if selection.died_after is not None:
        query = query.where(Execution.finished_at >= selection.died_after)
    if selection.died_before is not None:
        query = query.where(Execution.finished_at < selection.died_before)
    if limit is not None:
        query = query.limit(limit)
    found = [DeadLetter(*row) for row in session.execute(query)]
    replays = replayed_as(session, [letter.id for letter in found])
    return [replace(letter, replayed_as=replays.get(letter.id, ())) for letter in found]


def dead_letter(session: Session, execution_id: int, *, lock: bool = False) -> DeadLetter | None:
    """One execution as a DeadLetter (whatever its state now); `lock`: its row held until the commit."""
    query = select(Execution).where(Execution.id == execution_id)
    execution = session.scalars(query.with_for_update() if lock else query).first()
    if execution is None:
        return None
    return DeadLetter(execution.id, execution.state, execution.service, execution.category, execution.group_id,
                      execution.occurrence_id, execution.finished_at,
                      replayed_as(session, [execution.id]).get(execution.id, ()))


def replayed_as(session: Session, execution_ids: list[int]) -> dict[int, tuple[int, ...]]:
    """Execution id -> the executions it was replayed as, from its audit `replayed` entries (kept even
    when the replay itself was purged)."""
    found: dict[int, list[int]] = {}
    for start in range(0, len(execution_ids), _IDS_PER_QUERY):
        chunk = execution_ids[start:start + _IDS_PER_QUERY]
        rows = session.execute(select(AuditEntry.execution_id, AuditEntry.detail)
                               .where(AuditEntry.execution_id.in_(chunk), AuditEntry.action == "replayed")
                               .order_by(AuditEntry.id))
        for execution_id, detail in rows:
            found.setdefault(execution_id, []).append(int((detail or {}).get("new_execution_id") or 0))
    return {execution_id: tuple(ids) for execution_id, ids in found.items()}


def unfinished_of_occurrences(session: Session, occurrence_ids: list[int]) -> dict[int, tuple[int, ...]]:
    """Occurrence id -> its executions not finished yet."""
    found: dict[int, list[int]] = {}
    for start in range(0, len(occurrence_ids), _IDS_PER_QUERY):
        chunk = occurrence_ids[start:start + _IDS_PER_QUERY]
        rows = session.execute(select(Execution.occurrence_id, Execution.id)
                               .where(Execution.occurrence_id.in_(chunk), Execution.state.not_in(FINISHED))
                               .order_by(Execution.id))
        for occurrence_id, execution_id in rows:
            found.setdefault(occurrence_id, []).append(execution_id)
    return {occurrence_id: tuple(ids) for occurrence_id, ids in found.items()}


def locked_occurrence(session: Session, occurrence_id: int) -> Occurrence | None:
    """An occurrence, its row held until the commit (two retargets of one event do not interleave)."""
    return session.scalars(select(Occurrence).where(Occurrence.id == occurrence_id).with_for_update()).first()
