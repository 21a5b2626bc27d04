"""What operators do to executions: retry now, cancel, replay a dead letter (or every one a filter
selects), retarget dead letters, purge dead letters; and to stuck ones (also the stuck job's requeue):
requeue, force, reset, complete, reassign.

Each goes through the same store functions and transitions as the automatic path, with the
operator as the audited actor, in one transaction with its audit rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import exists, select

from config.errors import InvalidTransition, NotFound
from config.queues import RECOVERY_QUEUE
from config.settings import Settings
from workers.intake.contract import HttpTarget, Target
from workers.masking import mask_model, mask_text
from workers.recovery import dead_filters, engine, outcomes, store, target_policy
from workers.recovery.dead_filters import DeadFilter
from workers.recovery.destinations import DestinationRefused, admitted, destination_of
from workers.recovery.dispatch import is_recovery_queue
from workers.recovery.http_replay import refuse_connection_headers
from workers.recovery.outcomes import AttemptResult
from workers.recovery.plans import PlanSpec
from workers.recovery.service import Dispatch, RecoveryService, Started
from workers.recovery.states import CANCELLED, DEAD, FINISHED, PENDING, RUNNING, SCHEDULED, SUCCEEDED
from workers.recovery.states import TIMED_OUT as TIMED_OUT_STATE
from workers.recovery.store import Actor
from workers.storage.models import Attempt, ErrorGroup, Execution, Occurrence

# Audit actions of the stuck-workflow commands (`medic stuck ...`) and of the stuck job's requeue.
REQUEUED, FORCED, RESET, COMPLETED, REASSIGNED = (
    "stuck_requeue", "stuck_force", "stuck_reset", "stuck_complete", "stuck_reassign")
# What a requeue did: timed out the running attempt, sent the scheduled one again, went on with the plan;
# or nothing, because the execution moved on since it was seen.
TIMED_OUT, RESENT, RESUMED, MOVED = "timed_out", "resent", "resumed", "moved"


def operator(name: str) -> Actor:
    return Actor(f"operator:{name}")


def retry(service: RecoveryService, execution_id: int, *, actor: Actor, reason: str | None = None) -> Dispatch | None:
    """Run the next attempt now; a finished execution (not succeeded) starts again from its first step."""
    now = service.clock()
    with service.session() as session:
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
                             attempt_id=attempt.id, reason=why, next_attempt_at=now)
            dispatch = Dispatch(attempt.id, 0, execution.queue)
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
    return service.apply(session, execution, first, now=now, actor=actor)


def cancel(service: RecoveryService, execution_id: int, *, actor: Actor, reason: str | None = None) -> None:
    now = service.clock()
    with service.session() as session:
        execution = _get(session, execution_id)
        if execution.state in FINISHED:
            raise InvalidTransition(f"execution {execution_id} is already {execution.state}")
        store.cancel_open_attempts(session, execution.id, now=now)
        store.transition(session, execution, CANCELLED, now=now, actor=actor, action="cancelled",
                         reason=reason or "cancelled by an operator")
        session.commit()


def replay_dead(service: RecoveryService, execution_id: int, *, actor: Actor, plan_name: str | None = None) -> int:
    """A new execution of a dead letter's occurrence (the plan chosen again, or the one named)."""
    with service.session() as session:
        dead = _get(session, execution_id)
        if dead.state != DEAD:
            raise InvalidTransition(f"execution {execution_id} is {dead.state}, not dead; use `medic executions retry`")
        occurrence = session.get(Occurrence, dead.occurrence_id)
        if occurrence is None:  # executions go with their occurrence (ON DELETE CASCADE): only a broken database
            raise NotFound(f"execution {execution_id}: its occurrence {dead.occurrence_id} is gone; nothing to replay")
        plan = named_plan(service, plan_name)
        started = _replay_in(service, session, dead, occurrence, plan=plan, actor=actor)
        session.commit()
    service.after_commit(started.dispatch)
    return started.execution_id


def named_plan(service: RecoveryService, plan_name: str | None) -> PlanSpec | None:
    if not plan_name:
        return None
    plan = service.plans.get(plan_name)
    if plan is None:
        raise NotFound(f"no plan named {plan_name!r} (see `medic plans list`)")
    return plan


def _replay_in(service: RecoveryService, session, dead: Execution, occurrence: Occurrence, *, plan: PlanSpec | None,
               actor: Actor, detail: dict[str, Any] | None = None) -> Started:
    """The new execution of a dead letter's occurrence and the dead letter's `replayed` entry, uncommitted."""
    started = service.start(session, group_id=dead.group_id, occurrence_id=dead.occurrence_id,
                            event=occurrence.event, category=occurrence.category, severity=occurrence.severity,
                            plan=plan, replay_of=dead.id, actor=actor)
    new_id = started.execution_id
    store.audit(session, dead, at=service.clock(), actor=actor, action="replayed",
                reason=f"replayed as execution {new_id}", detail={"new_execution_id": new_id, **(detail or {})})
    return started


@dataclass(frozen=True)
class Purge:
    """A purge of dead letters, planned (dry run: nothing deleted yet) or done."""

    selection: DeadFilter
    ids: tuple[int, ...]  # the dead letters named; empty: every one the filter selects
    to_purge: tuple[int, ...]
    purged: tuple[int, ...] = ()
    dry_run: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "filter": self.selection.as_dict(), "ids": list(self.ids),
                "matched": len(self.to_purge), "to_purge": list(self.to_purge), "purged": list(self.purged)}


def plan_purge(service: RecoveryService, *, ids: Iterable[int] = (), selection: DeadFilter | None = None,
               finished_before: datetime | None = None) -> Purge:
    """Which dead letters a purge would delete (ids and filter combine with AND); changes nothing.
    An id that names no execution, or one not dead, stops it: nothing is purged."""
    named, chosen = tuple(ids), _purge_filter(selection, finished_before)
    if not named and chosen.is_empty():
        raise InvalidTransition("name the dead letters to purge (ids), or a filter (service, category, group, "
                                "since, until / an age): refusing to purge every dead letter")
    if not chosen.is_empty():
        problem = chosen.problem()
        if problem:
            raise InvalidTransition(problem)
    with service.session() as session:
        if named:
            found = dict(session.execute(select(Execution.id, Execution.state)
                                         .where(Execution.id.in_(named))).tuples().all())
            for execution_id in named:
                if execution_id not in found:
                    raise NotFound(f"no execution {execution_id}; nothing purged")
                if found[execution_id] != DEAD:
                    raise InvalidTransition(f"execution {execution_id} is {found[execution_id]}, not dead: only dead "
                                            "letters are purged; nothing purged")
        letters = store.dead_letters(session, chosen, execution_ids=named)
    return Purge(chosen, named, tuple(sorted(letter.id for letter in letters)))


def purge_dead(service: RecoveryService, *, actor: Actor, ids: Iterable[int] = (),
               finished_before: datetime | None = None, selection: DeadFilter | None = None) -> list[int]:
    """Delete dead letters: those named, those the filter selects, or both (AND); `finished_before` is the
    filter's `died_before`. Their attempts go with them; audit rows stay, with a purge entry each."""
    named, chosen = list(ids), _purge_filter(selection, finished_before)
    if not named and chosen.is_empty():
        raise InvalidTransition("name the dead letters to purge, or an age (finished_before): refusing to purge all")
    now = service.clock()
    detail = {} if chosen.is_empty() else {"bulk_filter": chosen.as_dict()}
    with service.session() as session:
        doomed = [letter.id for letter in store.dead_letters(session, chosen, execution_ids=named)]
        for execution in _executions(session, doomed):
            store.audit(session, execution, at=now, actor=actor, action="purged", from_state=DEAD,
                        reason="dead letter purged", detail={"execution_id": execution.id, **detail})
        session.flush()
        store.delete_executions(session, doomed)
        session.commit()
    return sorted(doomed)


def purge_planned(service: RecoveryService, planned: Purge, *, actor: Actor) -> Purge:
    """Purge what plan_purge found, as it was asked (a dead letter replayed or purged meanwhile is left out)."""
    purged = purge_dead(service, actor=actor, ids=planned.ids, selection=planned.selection)
    return replace(planned, purged=tuple(purged), dry_run=False)


def _executions(session, ids: list[int], chunk: int = 1000) -> list[Execution]:
    found: list[Execution] = []
    for start in range(0, len(ids), chunk):
        found += session.scalars(select(Execution).where(Execution.id.in_(ids[start:start + chunk])))
    return found


def _purge_filter(selection: DeadFilter | None, finished_before: datetime | None) -> DeadFilter:
    chosen = selection or DeadFilter()
    if finished_before is not None:
        before = finished_before if chosen.died_before is None else min(finished_before, chosen.died_before)
        chosen = replace(chosen, died_before=before)
    return chosen


def _get(session, execution_id: int) -> Execution:
    execution = session.get(Execution, execution_id)
    if execution is None:
        raise NotFound(f"no execution {execution_id}")
    return execution


# --- stuck executions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Situation:
    """An execution's open attempt as seen: (None, None) when it has none."""

    attempt_id: int | None
    attempt_state: str | None


@dataclass(frozen=True)
class Requeued:
    how: str  # timed_out | resent | resumed | moved
    dispatch: Dispatch | None


def requeue(service: RecoveryService, execution_id: int, *, actor: Actor, reason: str | None = None,
            detail: dict[str, Any] | None = None, expect: Situation | None = None) -> Requeued:
    """Make an unfinished execution run again, by what holds it:
    - its attempt is running (its worker is gone): timed out, as at its deadline, so the plan's next
      attempt is scheduled;
    - its attempt is scheduled: made due now and its run message sent again;
    - it has no open attempt: the plan goes on from where it stands, now.
    `expect`: act only if the open attempt is still the one seen (the stuck job), else MOVED."""
    now = service.clock()
    why = reason or f"requeued by {actor.name}"
    note = store.Note(REQUEUED, why, detail)
    with service.session() as session:
        execution = _unfinished(session, execution_id, "requeued")
        attempt = store.open_attempt(session, execution)
        seen = Situation(attempt.id, attempt.state) if attempt else Situation(None, None)
        if expect is not None and seen != expect:
            return Requeued(MOVED, None)
        if attempt is None:
            store.write_note(session, execution, note, at=now, actor=actor)
            requeued = Requeued(RESUMED, _resume(service, session, execution, now=now, actor=actor))
            session.commit()
        elif attempt.state == SCHEDULED:
            store.reschedule(session, attempt.id, scheduled_for=now, dispatched_at=now)
            store.write_note(session, execution, note, at=now, actor=actor, attempt_id=attempt.id)
            requeued = Requeued(RESENT, Dispatch(attempt.id, 0, execution.queue))
            session.commit()
        else:  # running: timed out through the service's own transaction, once this one has ended
            session.commit()
            requeued = _time_out(service, attempt.id, actor=actor, note=note)
    service.after_commit(requeued.dispatch)
    return requeued


def _time_out(service: RecoveryService, attempt_id: int, *, actor: Actor, note: store.Note) -> Requeued:
    timeout = AttemptResult("timeout", f"timed out by {actor.name}: {note.reason}")
    dispatch = service.record(attempt_id, timeout, actor=actor, note=note)
    with service.session() as session:  # another outcome may have come first: then nothing was changed
        recorded = session.scalar(select(exists().where(
            Attempt.id == attempt_id, Attempt.state == TIMED_OUT_STATE, Attempt.error == timeout.error)))
    return Requeued(TIMED_OUT, dispatch) if recorded else Requeued(MOVED, None)


def _resume(service: RecoveryService, session, execution: Execution, *, now: datetime, actor: Actor) -> Dispatch | None:
    """What should have followed the last recorded outcome (or the current step, if none), now."""
    plan, event = PlanSpec.model_validate(execution.plan), store.event_of(session, execution)
    last = store.last_attempt(session, execution)
    if last is not None and last.outcome is not None:
        result = outcomes.recorded(last.outcome, last.error)
        onward = engine.after_outcome(plan, last.step_index, last.number, result, event, rng=service.rng)
    else:
        onward = engine.enter_step(plan, execution.step_index, event, rng=service.rng)
    return _go_on(service, session, execution, onward, plan, now=now, actor=actor)


def _go_on(service: RecoveryService, session, execution: Execution, onward: engine.Next, plan: PlanSpec, *,
           now: datetime, actor: Actor) -> Dispatch | None:
    """Apply the engine's decision, its attempt due now (numbered after any of that step in this run)."""
    decision = onward.decision
    if isinstance(decision, engine.Schedule):
        number = max(decision.number, store.last_number(session, execution, decision.step_index) + 1)
        onward = replace(onward, decision=replace(decision, number=number, delay_s=0.0))
    return service.apply(session, execution, onward, now=now, actor=actor, plan=plan)


def force(service: RecoveryService, execution_id: int, *, actor: Actor, reason: str | None = None) -> Dispatch | None:
    """Move to the next step of its plan now; its open attempt is cancelled (a late outcome is ignored)."""
    now = service.clock()
    with service.session() as session:
        execution = _unfinished(session, execution_id, "forced")
        plan, event = PlanSpec.model_validate(execution.plan), store.event_of(session, execution)
        store.cancel_open_attempts(session, execution.id, now=now)
        store.audit(session, execution, at=now, actor=actor, action=FORCED, from_state=execution.state,
                    reason=reason or f"forced past step {execution.step_index + 1} by {actor.name}",
                    detail={"from_step": execution.step_index + 1})
        onward = engine.enter_step(plan, execution.step_index + 1, event, rng=service.rng)
        dispatch = _go_on(service, session, execution, onward, plan, now=now, actor=actor)
        session.commit()
    service.after_commit(dispatch)
    return dispatch


def reset(service: RecoveryService, execution_id: int, *, actor: Actor, reason: str | None = None) -> Dispatch | None:
    """Back to the first step of its plan now, as a new run; its open attempt is cancelled."""
    now = service.clock()
    with service.session() as session:
        execution = _unfinished(session, execution_id, "reset")
        plan, event = PlanSpec.model_validate(execution.plan), store.event_of(session, execution)
        store.cancel_open_attempts(session, execution.id, now=now)
        store.transition(session, execution, PENDING, now=now, actor=actor, action=RESET,
                         reason=reason or f"reset to step 1 by {actor.name}", run=execution.run + 1, step_index=0,
                         detail={"from_step": execution.step_index + 1, "run": execution.run + 1})
        session.flush()
        onward = engine.enter_step(plan, 0, event, rng=service.rng)
        dispatch = _go_on(service, session, execution, onward, plan, now=now, actor=actor)
        session.commit()
    service.after_commit(dispatch)
    return dispatch


def complete(service: RecoveryService, execution_id: int, *, actor: Actor, reason: str) -> None:
    """Resolved by hand: succeeded, with the operator's reason; its open attempt is cancelled."""
    if not reason or not reason.strip():
        raise InvalidTransition("completing an execution needs a reason (--reason): say how it was resolved")
    now = service.clock()
    with service.session() as session:
        execution = _unfinished(session, execution_id, "completed")
        store.cancel_open_attempts(session, execution.id, now=now)
        store.transition(session, execution, SUCCEEDED, now=now, actor=actor, action=COMPLETED, reason=reason.strip())
        session.commit()


def reassign(service: RecoveryService, execution_id: int, queue: str, *, actor: Actor,
             reason: str | None = None) -> Dispatch | None:
    """Send its run messages to `queue` from now on; a message already sent is sent again there."""
    if not is_recovery_queue(queue):
        raise InvalidTransition(f"queue {queue!r} is not a recovery queue: use {RECOVERY_QUEUE} or "
                                f"{RECOVERY_QUEUE}.<name> (letters, digits, _ and -), consumed by "
                                f"`medic worker --queues {RECOVERY_QUEUE}.<name>`")
    now = service.clock()
    with service.session() as session:
        execution = _unfinished(session, execution_id, "reassigned")
        before = execution.queue or RECOVERY_QUEUE
        store.transition(session, execution, execution.state, now=now, actor=actor, action=REASSIGNED,
                         reason=reason or f"run messages reassigned to {queue} by {actor.name}",
                         queue=None if queue == RECOVERY_QUEUE else queue, detail={"from": before, "to": queue})
        dispatch = _resend(service, session, execution, now=now)
        session.commit()
    service.after_commit(dispatch)
    return dispatch


def _resend(service: RecoveryService, session, execution: Execution, *, now: datetime) -> Dispatch | None:
    """The run message of its scheduled attempt again, on its queue, if one was sent (to the old queue)."""
    attempt = store.open_attempt(session, execution)
    if attempt is None or attempt.state != SCHEDULED or attempt.dispatched_at is None:
        return None
    due = max(attempt.scheduled_for, now)
    dispatch = service.dispatch_for(attempt.id, due, now, execution.queue)
    if dispatch.countdown_s is None:
        return None
    store.reschedule(session, attempt.id, scheduled_for=attempt.scheduled_for, dispatched_at=due)
    return dispatch


def _unfinished(session, execution_id: int, done: str) -> Execution:
    execution = _get(session, execution_id)
    if execution.state in FINISHED:
        raise InvalidTransition(f"execution {execution_id} is {execution.state}: a finished execution cannot be "
                                f"{done} (`medic executions retry {execution_id}` starts a failed, dead or cancelled "
                                "one again)")
    return execution


# --- dead letters in bulk: replay by filter, retarget ----------------------------------------------

@dataclass(frozen=True)
class BulkReplay:
    """A bulk replay, planned (dry run: nothing replayed yet) or done."""

    selection: DeadFilter
    matched: int
    to_replay: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...]  # (dead letter, why)
    over_limit: int
    replayed: tuple[tuple[int, int], ...] = ()  # (dead letter, its new execution)
    dry_run: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "filter": self.selection.as_dict(), "matched": self.matched,
                "to_replay": list(self.to_replay), "over_limit": self.over_limit,
                "replayed": [{"dead_letter": dead, "execution_id": new} for dead, new in self.replayed],
                "skipped": [{"dead_letter": dead, "reason": why} for dead, why in self.skipped]}


def plan_bulk_replay(service: RecoveryService, selection: DeadFilter, *, again: bool = False,
                     limit: int | None = None) -> BulkReplay:
    """Which dead letters a bulk replay would take (oldest death first); changes nothing."""
    problem = selection.problem()
    if problem:
        raise InvalidTransition(problem)
    with service.session() as session:
        letters = store.dead_letters(session, selection)
    choice = dead_filters.choose_for_replay(letters, again=again, limit=limit)
    return BulkReplay(selection, len(letters), choice.to_replay, choice.skipped, choice.over_limit)


def replay_planned(service: RecoveryService, planned: BulkReplay, *, actor: Actor, plan_name: str | None = None,
                   again: bool = False, each: Callable[[], None] | None = None) -> BulkReplay:
    """Replay the dead letters a plan_bulk_replay chose, each in its own transaction, audited as a single
    replay is (`replayed`, with the filter). Each is locked and looked at again first: one replayed,
    retried or purged since (another run of the same command) is skipped. `each`: called after each one."""
    plan = named_plan(service, plan_name)
    replayed: list[tuple[int, int]] = []
    skipped = list(planned.skipped)
    detail = {"bulk_filter": planned.selection.as_dict()}
    for execution_id in planned.to_replay:
        with service.session() as session:
            letter = store.dead_letter(session, execution_id, lock=True)
            why = "purged meanwhile" if letter is None else dead_filters.replay_skip_reason(letter, again=again)
            if why is None and letter is not None and not dead_filters.matches(letter, planned.selection):
                why = "no longer matches the filter"
            dead = session.get(Execution, execution_id) if why is None else None
            occurrence = session.get(Occurrence, dead.occurrence_id) if dead is not None else None
            if dead is None or occurrence is None:
                skipped.append((execution_id, why or "its occurrence is gone"))
                session.rollback()
            else:
                started = _replay_in(service, session, dead, occurrence, plan=plan, actor=actor, detail=detail)
                session.commit()
                service.after_commit(started.dispatch)
                replayed.append((execution_id, started.execution_id))
        if each is not None:
            each()
    return replace(planned, replayed=tuple(replayed), skipped=tuple(skipped), dry_run=False)


class TargetRejected(InvalidTransition):
    """A replay or fallback target that does not fit the contract, or that the allowlists refuse."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} target {problem}")
        self.field = field


# The targets a retarget sets: what a replay calls, and what a fallback step calls.
RETARGETED_FIELDS = ("replay", "fallback")
_TARGET: TypeAdapter[Any] = TypeAdapter(Target)


def checked_target(field: str, value: Any, settings: Settings) -> tuple[dict[str, Any], bool]:
    """A target as it will be stored: valid by the contract, allowed by the operator's allowlists now,
    masked as intake masks an event. Returns it and whether masking changed it; TargetRejected says why not."""
    try:
        target = _TARGET.validate_python(value)
    except ValidationError as exc:
        raise TargetRejected(field, f"is invalid: {target_problems(exc)}") from None
    refused = target_refusal(target, settings)
    if refused:
        raise TargetRejected(field, f"would be refused: {mask_text(refused)}")
    stored = mask_model(target).model_dump(mode="json", exclude_none=True)
    return stored, stored != target.model_dump(mode="json", exclude_none=True)


def target_problems(error: ValidationError) -> str:
    """Each problem as `field: message` (the kind's tag left out of the field's path)."""
    problems = []
    for problem in error.errors(include_url=False, include_input=False):
        where = [str(part) for part in problem["loc"]][1:]
        problems.append(f"{'.'.join(where) or 'target'}: {problem['msg']}")
    return "; ".join(problems)


def target_refusal(target: Any, settings: Settings) -> str | None:
    """Why a replay would refuse this target with the settings of now (an HTTP target's address is
    checked only when it is called: names resolve differently over time), or None."""
    if isinstance(target, HttpTarget):
        try:
            refuse_connection_headers(target.headers)
            admitted(destination_of(httpx.URL(target.url)), target.method, settings.replay_http.entries)
        except DestinationRefused as exc:
            return str(exc)
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
            return f"the URL cannot be sent: {exc}"
        return None
    return target_policy.refusal(target.model_dump(mode="json"), by_plan=False, allowed=settings.replay_targets)


def target_text(target: dict[str, Any] | None) -> str:
    """A target in a few words, for messages (masked as stored)."""
    if not target:
        return "none"
    kind = target.get("kind")
    if kind == "celery":
        return f"Celery task {target.get('task')} on queue {target.get('queue') or target_policy.DEFAULT_QUEUE}"
    if kind == "http":
        return f"HTTP {target.get('method', 'POST')} {mask_text(str(target.get('url')))}"
    return f"action {target.get('name')}"


@dataclass(frozen=True)
class Retarget:
    dead_letter: int
    occurrence_id: int
    changes: dict[str, dict[str, Any]]  # field -> {"old": target or None, "new": target}


@dataclass(frozen=True)
class Retargeted:
    changed: tuple[Retarget, ...]
    skipped: tuple[tuple[int, str], ...]
    masked: tuple[str, ...]  # the fields whose new target had values masked before it was stored
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "changed": len(self.changed),
                "dead_letters": [{"dead_letter": r.dead_letter, "occurrence_id": r.occurrence_id,
                                  "changes": r.changes} for r in self.changed],
                "skipped": [{"dead_letter": dead, "reason": why} for dead, why in self.skipped],
                "masked": list(self.masked)}


def retarget_dead(service: RecoveryService, targets: dict[str, Any], *, actor: Actor, execution_id: int | None = None,
                  group_id: int | None = None, dry_run: bool = False) -> Retargeted:
    """Attach or replace the replay/fallback target of a dead letter (or of every dead letter of a group)
    in its stored event, so the next replay calls it; audited (`retargeted`, old and new target) on each
    dead letter. A dead letter whose occurrence has an execution still going is left alone (that one
    would call the new target mid-way): an error for one dead letter, skipped for a group."""
    if (execution_id is None) == (group_id is None):
        raise InvalidTransition("name one dead letter or one error group to retarget")
    unknown = sorted(set(targets) - set(RETARGETED_FIELDS))
    if unknown or not targets:
        raise InvalidTransition(f"give a replay or fallback target to set{f' (not {unknown})' if unknown else ''}")
    checked = {field: checked_target(field, value, service.settings) for field, value in targets.items()}
    new = {field: target for field, (target, _) in checked.items()}
    masked = tuple(field for field, (_, was_masked) in checked.items() if was_masked)
    now = service.clock()
    changed: list[Retarget] = []
    skipped: list[tuple[int, str]] = []
    with service.session() as session:
        letters = _to_retarget(session, execution_id, group_id)
        for occurrence_id in sorted({letter.occurrence_id for letter in letters}):
            theirs = [letter for letter in letters if letter.occurrence_id == occurrence_id]
            occurrence = store.locked_occurrence(session, occurrence_id)
            going = store.unfinished_of_occurrences(session, [occurrence_id]).get(occurrence_id, ())
            event = dict(occurrence.event or {}) if occurrence is not None else {}
            changes = {field: {"old": event.get(field), "new": target} for field, target in new.items()
                       if event.get(field) != target}
            for letter in theirs:
                why = dead_filters.retarget_skip_reason(letter, going)
                if why is None and occurrence is None:
                    why = "its occurrence is gone"
                if why is None and not changes:
                    why = "already has this target"
                if why is not None and execution_id is not None:
                    raise InvalidTransition(f"dead letter {letter.id}: {why}; nothing changed")
                if why is not None:
                    skipped.append((letter.id, why))
                    continue
                changed.append(Retarget(letter.id, occurrence_id, changes))
                execution = session.get_one(Execution, letter.id)
                store.audit(session, execution, at=now, actor=actor, action="retargeted",
                            reason="; ".join(f"{field} target set to {target_text(change['new'])} "
                                             f"(was {target_text(change['old'])})"
                                             for field, change in changes.items()),
                            detail={"occurrence_id": occurrence_id, "changes": changes})
            if occurrence is not None and changes and any(r.occurrence_id == occurrence_id for r in changed):
                occurrence.event = {**event, **{field: change["new"] for field, change in changes.items()}}
        if dry_run:
            session.rollback()
        else:
            session.commit()
    return Retargeted(tuple(changed), tuple(skipped), masked, dry_run)


def _to_retarget(session, execution_id: int | None, group_id: int | None) -> list[dead_filters.DeadLetter]:
    if execution_id is not None:
        letter = store.dead_letter(session, execution_id)
        if letter is None:
            raise NotFound(f"no execution {execution_id}")
        if letter.state != DEAD:
            raise InvalidTransition(f"execution {execution_id} is {letter.state}, not dead: only a dead letter is "
                                    "retargeted")
        return [letter]
    if session.get(ErrorGroup, group_id) is None:
        raise NotFound(f"no error group {group_id}")
    return store.dead_letters(session, DeadFilter(group_id=group_id))
