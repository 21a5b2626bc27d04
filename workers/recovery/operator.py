"""What operators do to executions: retry now, cancel, replay a dead letter, purge dead letters.

Each goes through the same store functions and transitions as the automatic path, with the
operator as the audited actor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import select

from config.errors import InvalidTransition, NotFound
from workers.recovery import engine, store
from workers.recovery.plans import PlanSpec
from workers.recovery.service import Dispatch, RecoveryService
from workers.recovery.states import CANCELLED, DEAD, FINISHED, PENDING, RUNNING, SUCCEEDED
from workers.recovery.store import Actor
from workers.storage.models import Execution, Occurrence
from workers.storage.repository import utc


def operator(name: str) -> Actor:
    return Actor(f"operator:{name}")


def retry(service: RecoveryService, execution_id: int, *, actor: Actor, reason: str | None = None) -> Dispatch | None:
    """Run the next attempt now; a finished execution (not succeeded) starts again from its first step."""
    now = service.clock()
    with service._session() as session:
        execution = _get(session, execution_id)
        if execution.state == SUCCEEDED:
            raise InvalidTransition(f"execution {execution_id} already succeeded; nothing to retry")
        if execution.state == RUNNING:
            raise InvalidTransition(f"execution {execution_id} has an attempt in flight; cancel it first or wait")
        why = reason or "operator asked to retry now"
        if execution.state in FINISHED:
            dispatch = _restart(service, session, execution, now=now, actor=actor, reason=why)
        else:
            attempt = store.open_attempt(session, execution)
            if attempt is None:
                raise InvalidTransition(f"execution {execution_id} has no scheduled attempt to run")
            store.reschedule(session, attempt.id, scheduled_for=now, dispatched_at=now)
            store.transition(session, execution, execution.state, now=now, actor=actor, action="retry_now",
                             attempt_id=attempt.id, reason=why, next_attempt_at=utc(now))
            dispatch = Dispatch(attempt.id, 0)
        session.commit()
    service.after_commit(dispatch)
    return dispatch


def _restart(service: RecoveryService, session, execution: Execution, *, now: datetime, actor: Actor,
             reason: str) -> Dispatch | None:
    event = store.event_of(session, execution)
    plan = PlanSpec.model_validate(execution.plan)
    store.transition(session, execution, PENDING, now=now, actor=actor, action="restarted", reason=reason,
                     run=execution.run + 1, step_index=0, finished_at=None)
    session.flush()
    first = engine.enter_step(plan, 0, event, rng=service.rng)
    return service._apply(session, execution, first, now=now, actor=actor)


def cancel(service: RecoveryService, execution_id: int, *, actor: Actor, reason: str | None = None) -> None:
    now = service.clock()
    with service._session() as session:
        execution = _get(session, execution_id)
        if execution.state in FINISHED:
            raise InvalidTransition(f"execution {execution_id} is already {execution.state}")
        store.cancel_open_attempts(session, execution.id, now=now)
        store.transition(session, execution, CANCELLED, now=now, actor=actor, action="cancelled",
                         reason=reason or "cancelled by an operator")
        session.commit()


def replay_dead(service: RecoveryService, execution_id: int, *, actor: Actor, plan_name: str | None = None) -> int:
    """A new execution of a dead letter's occurrence (the plan chosen again, or the one named)."""
    with service._session() as session:
        dead = _get(session, execution_id)
        if dead.state != DEAD:
            raise InvalidTransition(f"execution {execution_id} is {dead.state}, not dead; use `medic executions retry`")
        occurrence = session.get(Occurrence, dead.occurrence_id)
        plan = None
        if plan_name:
            plan = service.plans.get(plan_name)
            if plan is None:
                raise NotFound(f"no plan named {plan_name!r} (see `medic plans list`)")
        started = service.start(session, group_id=dead.group_id, occurrence_id=dead.occurrence_id,
                                event=occurrence.event, category=occurrence.category, severity=occurrence.severity,
                                plan=plan, replay_of=dead.id, actor=actor)
        new_id = started.execution_id
        store.audit(session, dead, at=service.clock(), actor=actor, action="replayed",
                    reason=f"replayed as execution {new_id}", detail={"new_execution_id": new_id})
        session.commit()
    service.after_commit(started.dispatch)
    return new_id


def purge_dead(service: RecoveryService, *, actor: Actor, ids: Iterable[int] = (),
               finished_before: datetime | None = None) -> list[int]:
    """Delete dead letters (their attempts go with them; audit rows stay, with a purge entry)."""
    ids = list(ids)
    if not ids and finished_before is None:
        raise InvalidTransition("name the dead letters to purge, or an age (finished_before): refusing to purge all")
    now = service.clock()
    with service._session() as session:
        query = select(Execution).where(Execution.state == DEAD)
        if ids:
            query = query.where(Execution.id.in_(ids))
        if finished_before:
            query = query.where(Execution.finished_at < utc(finished_before))
        doomed = list(session.scalars(query))
        for execution in doomed:
            store.audit(session, execution, at=now, actor=actor, action="purged", from_state=DEAD,
                        reason="dead letter purged", detail={"execution_id": execution.id})
        session.flush()
        store.delete_executions(session, [execution.id for execution in doomed])
        session.commit()
    return [execution.id for execution in doomed]


def _get(session, execution_id: int) -> Execution:
    execution = session.get(Execution, execution_id)
    if execution is None:
        raise NotFound(f"no execution {execution_id}")
    return execution
