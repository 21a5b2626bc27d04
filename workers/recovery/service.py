"""The recovery service: starts executions, runs and records attempts, sweeps what is due.

Every change of an execution is one transaction with its audit row. Attempts are claimed by a
conditional update, so a duplicated or redelivered message never performs a step twice. Messages
are sent after the commit; one that is lost is sent again by the sweeper.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import httpx
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session, sessionmaker

from config.errors import ConfigError, StorageUnavailable
from config.settings import Settings
from config.urls import redelivers_after_visibility_timeout
from workers.breakers import Breakers, Transition, breakers_from_settings, policy
from workers.clock import utcnow
from workers.notify import queue as notifications
from workers.notify.delivery import deliver_queued, request_delivery
from workers.notify.recovery_messages import breaker_message
from workers.recovery import callback_signing, engine, record_sql, start_sql, store, target_policy
from workers.recovery.actions import ActionRegistry
from workers.recovery.callback_key import callback_key as load_callback_key
from workers.recovery.outcomes import AttemptResult
from workers.recovery.perform import Call, Dispatcher, Performer, notify
from workers.recovery.plans import (
    CALL_STEPS,
    ENDING_KINDS,
    EscalateStep,
    NotifyStep,
    PlanSet,
    PlanSpec,
    RetryStep,
    builtin_plan_paths,
    check_references,
    check_timeouts,
    load_plans,
)
from workers.recovery.states import FINISHED, PENDING, RUNNING, SUCCEEDED, TIMED_OUT, WAITING, attempt_state_for
from workers.recovery.store import Actor
from workers.storage import leases
from workers.storage.db import guarded_session, session_factory
from workers.storage.models import Attempt, BreakerTransition, Execution

log = logging.getLogger("medic.recovery")

# Steps that are due now run in the same task, up to this many, instead of one message each.
INLINE_STEPS_MAX = 8
# Sweeper batch per pass; what is left waits for the next pass, seconds later.
SWEEP_BATCH = 500
# Extra time past a replay's own timeout before its attempt counts as timed out.
DEADLINE_GRACE_S = 5
# Local steps (plugin actions, notifications) finish within a task's time limit.
LOCAL_STEP_DEADLINE_S = 120
SWEEP_LEASE = "recovery-sweep"
# Attempts released at once when a breaker closes; any beyond wait for their deferred time.
RELEASE_BATCH = 5000


def worker_actor() -> Actor:
    return Actor(f"worker:{socket.gethostname()}:{os.getpid()}")


def load_plan_set(settings: Settings, actions: ActionRegistry) -> PlanSet:
    plans = load_plans([*builtin_plan_paths(), *settings.plans_files])
    check_references(plans, channels=settings.channels, actions=actions.names())
    reserved = target_policy.plan_problems(
        (f"plans file {loaded.origin}: plan {loaded.spec.name!r}, step {number}", step)
        for loaded in plans.plans for number, step in enumerate(loaded.spec.steps, start=1))
    if reserved:
        raise ConfigError(reserved[0])
    if redelivers_after_visibility_timeout(settings.broker_url):
        check_timeouts(plans, min_timeout_s=settings.min_replay_timeout_s)
    return plans


def _created_detail(decision: engine.Schedule) -> dict[str, Any]:
    return {"step": decision.step_index + 1, "attempt": 1, "delay_s": round(decision.delay_s, 3)}


@dataclass(frozen=True)
class Cause:
    """The attempt outcome behind a transition, recorded in that transition's audit row."""

    attempt_id: int | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Started:
    execution_id: int
    dispatch: Dispatch | Perform | None


@dataclass(frozen=True)
class Dispatch:
    """A message to send after the commit: run `attempt_id` in `countdown_s` (None: the sweeper will),
    on the execution's `queue` (None: medic.recovery; an operator may reassign it)."""

    attempt_id: int
    countdown_s: float | None
    queue: str | None = None


@dataclass(frozen=True)
class Perform:
    """An attempt to perform now, claimed already: by a medic.recovery.run message's claim, or by
    the transaction that created it (a Celery replay due at once, sent right after the commit)."""

    call: Call
    service: str
    step: Any
    event: dict[str, Any]


class RecoveryService:
    """Starts, runs, records and sweeps executions, with one dispatcher for what it sends.

    Built for medic's processes by workers.recovery.factory.build_recovery_service; tests and
    benchmarks construct it with a recording dispatcher. For the operator's actions
    (workers/recovery/operator.py) it offers, besides its own entry points, `session()`,
    `apply()` and `dispatch_for()`: the steps they share with the automatic path.
    """

    def __init__(self, settings: Settings, *, dispatcher: Dispatcher, clock: Callable[[], datetime] = utcnow,
                 rng: random.Random | None = None, actor: Actor | None = None):
        self.settings = settings
        self.dispatcher = dispatcher
        self.clock = clock
        self.rng = rng or random.Random()
        self.actor = actor or worker_actor()
        self._snapshots: dict[int, tuple[PlanSpec, dict[str, Any]]] = {}

    # --- wiring ----------------------------------------------------------------------------

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.settings.database_url)

    @cached_property
    def actions(self) -> ActionRegistry:
        # A soft time limit must stop the task, not read as a plugin's failure.
        return ActionRegistry.from_entry_points(propagate=(SoftTimeLimitExceeded,))

    @cached_property
    def plans(self) -> PlanSet:
        return load_plan_set(self.settings, self.actions)

    @cached_property
    def breakers(self) -> Breakers:
        return breakers_from_settings(self.settings, self.sessions, self.plans.breaker_config,
                                      on_transition=self._breaker_transition, clock=self.clock)

    @cached_property
    def http(self) -> httpx.Client:
        return httpx.Client()

    @cached_property
    def performer(self) -> Performer:
        return Performer(self.settings, self.dispatcher, self.actions, self.clock,
                         callback_key=lambda: self.callback_key)

    @cached_property
    def callback_key(self) -> bytes:
        """The key signing Celery replays' callbacks, read once (workers/recovery/callback_key.py)."""
        with self.session() as session:
            return load_callback_key(self.settings, session)

    def callback_is_signed(self, attempt_id: int, task_id: str | None, signature: object) -> bool:
        """Whether a replay callback is medic's own (callback_signing); a forged one must change nothing."""
        return callback_signing.verify(self.callback_key, attempt_id, task_id, signature)

    def session(self) -> AbstractContextManager[Session]:
        """A session on medic's database, its transient errors raised as StorageUnavailable.

        One transaction of the caller's: it commits, then hands what it decided to `after_commit`."""
        return guarded_session(self.sessions)

    # --- starting --------------------------------------------------------------------------

    def start(self, session: Session, *, group_id: int, occurrence_id: int, event: dict[str, Any], category: str,
              severity: str, plan: PlanSpec | None = None, replay_of: int | None = None,
              actor: Actor | None = None) -> Started:
        """Create the execution of a stored occurrence, in the caller's transaction.

        On intake's path, so it is written in its final shape at once: the execution with its first
        attempt's time, the attempt, and one audit row (plus one per skipped step). A Celery replay due
        at once is written claimed (one more audit row) and returned as Perform, for `after_commit` to
        send: no medic.recovery.run message and no claim transaction of its own."""
        now, actor = self.clock(), actor or self.actor
        plan = plan or self.plans.select(event, category, severity)
        first = engine.enter_step(plan, 0, event, rng=self.rng, hint_retry_after_s=_retry_after_hint(event))
        decision = first.decision
        why = f"plan {plan.name}" + (f", replaying execution {replay_of}" if replay_of else "")
        claim = None
        if isinstance(decision, engine.Finish):
            shape = {"state": decision.state, "finished_at": now, "reason": decision.reason}
            why = f"{why}; {decision.reason}"
        else:
            claim = self._claim_at_start(plan.steps[decision.step_index], decision, event, now=now, actor=actor)
            shape = {"state": RUNNING if claim else PENDING, "step_index": decision.step_index,
                     "next_attempt_at": now + timedelta(seconds=decision.delay_s), "reason": decision.reason}
        fields = {"group_id": group_id, "occurrence_id": occurrence_id, "plan": plan,
                  "plan_snapshot": self._snapshot(plan), "service": event["service"], "category": category, "now": now,
                  "replay_of": replay_of, **shape}
        if start_sql.supported(session):
            return self._start_in_one_statement(session, fields, first, plan, event, why, actor, claim)
        execution = store.create_execution(session, **fields)
        for skip in first.skipped:
            store.audit(session, execution, at=now, actor=actor, action="step_skipped", reason=skip.reason,
                        detail={"step": skip.step_index + 1})
        if not isinstance(decision, engine.Schedule):
            store.audit(session, execution, at=now, actor=actor, action="created", to_state=execution.state,
                        reason=why)
            return Started(execution.id, None)
        dispatch = self._schedule(session, execution, decision, plan, now=now, claim=claim)
        store.audit(session, execution, at=now, actor=actor, action="created", to_state=PENDING, reason=why,
                    attempt_id=dispatch.attempt_id, detail=_created_detail(decision))
        if claim is None:
            return Started(execution.id, dispatch)
        store.audit(session, execution, at=now, actor=actor, action="claimed", from_state=PENDING, to_state=RUNNING,
                    attempt_id=dispatch.attempt_id, reason=_claimed_reason(decision.number, decision.step_index, plan))
        return Started(execution.id, self._perform_at_start(execution.id, dispatch.attempt_id, decision, plan, event))

    def _start_in_one_statement(self, session: Session, fields: dict[str, Any], first: engine.Next, plan: PlanSpec,
                                event: dict[str, Any], why: str, actor: Actor, claim: store.Claim | None) -> Started:
        """The same rows as the ORM path above, in one round trip (PostgreSQL)."""
        now = fields["now"]
        schedule = first.decision if isinstance(first.decision, engine.Schedule) else None
        row = store.execution_row(**fields)
        attempt, countdown_s = None, None
        if schedule is not None:
            countdown_s = None if claim else self._countdown_s(schedule.delay_s)
            attempt = store.attempt_row(run=row["run"], step_index=schedule.step_index,
                                        step_kind=plan.steps[schedule.step_index].kind, number=schedule.number,
                                        scheduled_for=row["next_attempt_at"],
                                        dispatched_at=row["next_attempt_at"] if countdown_s is not None else None,
                                        claim=claim)

        def audit_row(action: str, from_state: str | None, to_state: str | None, reason: str | None,
                      detail: dict[str, Any] | None = None, of_attempt: bool = True) -> dict[str, Any]:
            return {"at": now, "actor": actor.name, "action": action, "from_state": from_state, "to_state": to_state,
                    "reason": reason, "detail": detail, "of_attempt": of_attempt}

        audit = [audit_row("step_skipped", None, None, skip.reason, {"step": skip.step_index + 1}, of_attempt=False)
                 for skip in first.skipped]
        audit.append(audit_row("created", None, PENDING if schedule else row["state"], why,
                               _created_detail(schedule) if schedule else None))
        if schedule is not None and claim is not None:
            audit.append(audit_row("claimed", PENDING, RUNNING,
                                   _claimed_reason(schedule.number, schedule.step_index, plan)))
        execution_id, attempt_id = start_sql.insert_start(session, row, attempt, audit)
        if schedule is None or attempt_id is None:
            return Started(execution_id, None)
        if claim is not None:
            return Started(execution_id, self._perform_at_start(execution_id, attempt_id, schedule, plan, event))
        return Started(execution_id, Dispatch(attempt_id, countdown_s))

    def _claim_at_start(self, step: Any, decision: engine.Schedule, event: dict[str, Any], *, now: datetime,
                        actor: Actor) -> store.Claim | None:
        """The claim of a first attempt that only sends a message now (engine.sent_at_start), if its
        service's breaker is closed: otherwise it takes the usual way, where a refusal defers it."""
        if not engine.sent_at_start(step, event, decision.delay_s):
            return None
        if isinstance(step, RetryStep) and self.breakers.status(event["service"]).state != "closed":
            return None
        return store.Claim(at=now, by=actor, deadline_at=now + self._deadline(step, event))

    @staticmethod
    def _perform_at_start(execution_id: int, attempt_id: int, decision: engine.Schedule, plan: PlanSpec,
                          event: dict[str, Any]) -> Perform:
        return Perform(Call(execution_id, attempt_id, decision.number), event["service"],
                       plan.steps[decision.step_index], event)

    def _snapshot(self, plan: PlanSpec) -> dict[str, Any]:
        """The plan as stored with each execution; plans do not change while a process runs."""
        key = id(plan)
        if key not in self._snapshots:
            self._snapshots[key] = (plan, plan.model_dump(mode="json"))  # the plan kept alive: its id stays its own
        return self._snapshots[key][1]

    def _schedule(self, session: Session, execution: Execution, decision: engine.Schedule, plan: PlanSpec, *,
                  now: datetime, claim: store.Claim | None = None) -> Dispatch:
        """The next attempt, written; its message (none when `claim` says it is claimed already)."""
        when = now + timedelta(seconds=decision.delay_s)
        countdown_s = None if claim else self._countdown_s(decision.delay_s)
        attempt = store.add_attempt(session, execution, step_index=decision.step_index,
                                    step_kind=plan.steps[decision.step_index].kind, number=decision.number,
                                    scheduled_for=when, dispatched_at=when if countdown_s is not None else None,
                                    claim=claim)
        return Dispatch(attempt.id, countdown_s, execution.queue)

    def _countdown_s(self, delay_s: float) -> float | None:
        """The wait as a broker countdown; None when it is too long for one (the sweeper sends it when due)."""
        return delay_s if delay_s <= self.settings.recovery_countdown_max_s else None

    def after_commit(self, dispatch: Dispatch | Perform | None) -> None:
        """Send what a committed transaction decided; a failure is left to the sweeper."""
        if isinstance(dispatch, Perform):
            self.after_commit_all([dispatch])
            return
        if dispatch is None or dispatch.countdown_s is None:
            return
        try:
            self.dispatcher.run_attempt(dispatch.attempt_id, dispatch.countdown_s, dispatch.queue)
        except Exception as exc:
            log.warning("could not send attempt; the sweeper will", extra={
                "attempt_id": dispatch.attempt_id, "error": f"{type(exc).__name__}: {exc}"})

    # --- running ---------------------------------------------------------------------------

    def after_commit_all(self, decided: list[Dispatch | Perform]) -> None:
        """after_commit for each of a transaction's decisions (an intake batch's); the Celery replays
        published are marked sent together."""
        sent: list[int] = []
        for dispatch in decided:
            if isinstance(dispatch, Perform):
                self._perform_after_commit(dispatch, sent)
            else:
                self.after_commit(dispatch)
        self._mark_sent(sent)

    def run(self, attempt_id: int) -> None:
        """Claim and perform an attempt, and any attempts due right after it."""
        dispatch = None
        sent: list[int] = []
        for _ in range(INLINE_STEPS_MAX):
            dispatch = self._run_one(attempt_id, sent)
            if dispatch is None or dispatch.countdown_s != 0:
                break
            attempt_id = dispatch.attempt_id
        self._mark_sent(sent)
        self.after_commit(dispatch)

    def _run_one(self, attempt_id: int, sent: list[int]) -> Dispatch | None:
        claimed = self._claim(attempt_id)
        if claimed is None:
            return None
        attempt, execution = claimed.attempt, claimed.execution
        return self._perform(Perform(Call(execution.id, attempt.id, attempt.number), execution.service,
                                     claimed.plan.steps[attempt.step_index], claimed.event), sent)

    def _perform(self, work: Perform, sent: list[int]) -> Dispatch | None:
        """Do a claimed attempt's step: notify, or call its target once its service's breaker allows.
        A Celery replay published is added to `sent`, for the caller to mark (mark_sent)."""
        step, attempt_id = work.step, work.call.attempt_id
        if isinstance(step, (NotifyStep, EscalateStep)):
            return self._notify(attempt_id, step)
        if isinstance(step, RetryStep):
            permit = self.breakers.acquire(work.service)
            if not permit.allowed:
                return self._breaker_open(attempt_id, permit.retry_at_s)
            if permit.probe:
                self._mark_probe(attempt_id)
        result = self.performer.call(step, engine.target_of(step, work.event), work.call, work.event)
        if result is None:  # a Celery replay: its outcome comes back through link/link_error
            sent.append(attempt_id)
            return None
        return self.record(attempt_id, result)

    def _perform_after_commit(self, work: Perform, sent: list[int]) -> None:
        """An attempt claimed at its start, performed by the process that started it. A failure here
        (storage or breaker store unavailable) leaves it claimed and unsent: the sweeper sends it again
        (sweep, "resent")."""
        try:
            self.after_commit(self._perform(work, sent))
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:
            log.warning("could not perform attempt claimed at its start; the sweeper will send it again", extra={
                "attempt_id": work.call.attempt_id, "error": f"{type(exc).__name__}: {exc}"})

    def _mark_sent(self, attempt_ids: list[int]) -> None:
        if not attempt_ids:
            return
        try:
            with self.session() as session:
                store.mark_sent(session, attempt_ids, now=self.clock())
                session.commit()
        except StorageUnavailable as exc:  # published all the same: the sweeper may send them once more
            log.warning("could not mark replays sent", extra={"attempts": len(attempt_ids), "error": str(exc)})

    def _claim(self, attempt_id: int) -> store.Loaded | None:
        now = self.clock()
        with self.session() as session:
            loaded = store.load(session, attempt_id)
            if loaded is None or loaded.attempt.state != "scheduled":
                return None
            attempt, execution = loaded.attempt, loaded.execution
            step = loaded.plan.steps[attempt.step_index]
            deadline_at = now + self._deadline(step, loaded.event)
            sent_at = None if engine.sends_celery_task(step, loaded.event) else now
            if not store.claim(session, attempt_id, now=now, actor=self.actor, deadline_at=deadline_at,
                               sent_at=sent_at):
                session.rollback()
                self._early(attempt, execution.queue, now)
                return None
            store.transition(session, execution, RUNNING, now=now, actor=self.actor, action="claimed",
                             attempt_id=attempt_id,
                             reason=_claimed_reason(attempt.number, attempt.step_index, loaded.plan))
            session.commit()
            return loaded

    def _deadline(self, step: Any, event: dict[str, Any]) -> timedelta:
        if not isinstance(step, CALL_STEPS):
            return timedelta(seconds=LOCAL_STEP_DEADLINE_S)
        target = engine.target_of(step, event) or {}
        if target.get("kind") == "http":
            return timedelta(seconds=float(target.get("timeout_s") or 10) + DEADLINE_GRACE_S)
        if target.get("kind") == "celery":
            return timedelta(seconds=step.timeout_s or self.settings.recovery_attempt_timeout_s)
        return timedelta(seconds=max(step.timeout_s or 0, LOCAL_STEP_DEADLINE_S))

    def _early(self, attempt: Attempt, queue: str | None, now: datetime) -> None:
        """A message that came before its time (a redispatch, a clock skew) is sent again for then."""
        if attempt.state == "scheduled" and attempt.scheduled_for is not None:
            remaining_s = (attempt.scheduled_for - now).total_seconds()
            if 0 < remaining_s <= self.settings.recovery_countdown_max_s:
                self.after_commit(Dispatch(attempt.id, remaining_s, queue))

    def _mark_probe(self, attempt_id: int) -> None:
        with self.session() as session:
            attempt = session.get(Attempt, attempt_id)
            if attempt is None:  # deleted since it was claimed: the call that follows finds it gone too
                return
            attempt.detail = {**(attempt.detail or {}), "probe": True}
            session.commit()

    def _notify(self, attempt_id: int, step: NotifyStep | EscalateStep) -> Dispatch | None:
        now = self.clock()
        with self.session() as session:
            loaded = store.load(session, attempt_id)
            if loaded is None:  # deleted since it was claimed (its execution purged): nothing left to do
                return None
            result, deliver_id = notify(session, step, loaded.execution, loaded.event, now=now,
                                        cooldown_s=self.settings.notification_cooldown_s)
            dispatch = self._record_in(session, loaded, result, now=now)
            session.commit()
        if deliver_id is not None:
            request_delivery(self.dispatcher, deliver_id)
        return dispatch

    def _breaker_open(self, attempt_id: int, retry_at_s: float | None) -> Dispatch | None:
        now = self.clock()
        with self.session() as session:
            loaded = store.load(session, attempt_id)
            if loaded is None:  # deleted since it was claimed (its execution purged): nothing left to do
                return None
            attempt, execution, plan, event = loaded.attempt, loaded.execution, loaded.plan, loaded.event
            onward = engine.after_breaker_open(plan, attempt.step_index, event, rng=self.rng)
            if onward is not None:
                store.finish(session, attempt, state="failed", outcome="permanent", error="circuit breaker open",
                             detail={}, now=now)
                dispatch = self.apply(session, execution, onward, now=now, actor=self.actor, plan=plan)
                session.commit()
                return dispatch
            config = self.plans.breaker_config(execution.service)
            until = (datetime.fromtimestamp(retry_at_s, UTC) if retry_at_s
                     else now + timedelta(seconds=config.recovery_timeout_s))
            until = max(until, now)
            dispatch = self.dispatch_for(attempt_id, until, now, execution.queue)
            store.unclaim(session, attempt_id, scheduled_for=until,
                          dispatched_at=until if dispatch.countdown_s is not None else None,
                          detail={store.BREAKER_DEFERRED: True})
            store.transition(session, execution, WAITING, now=now, actor=self.actor, action="deferred",
                             attempt_id=attempt_id, next_attempt_at=until,
                             reason=f"circuit breaker of {execution.service} is open; not counted as an attempt")
            session.commit()
            service = execution.service
        # The probe may have closed the breaker between our refusal and this deferral, releasing what
        # it found deferred before this one was: then this one goes now too, not a recovery timeout later.
        if self.breakers.status(service).state == "closed":
            self._release_deferred(service)
        return dispatch

    # --- outcomes --------------------------------------------------------------------------

    def record(self, attempt_id: int, result: AttemptResult, *, actor: Actor | None = None,
               note: store.Note | None = None) -> Dispatch | None:
        """Record an attempt's outcome and decide what follows; a second outcome changes nothing.

        `note`: an audit row to write with it, when this outcome is the one recorded."""
        now = self.clock()
        with self.session() as session:
            if result.succeeded and note is None and record_sql.supported(session):
                recorded = record_sql.record_success(session, attempt_id, detail=result.detail,
                                                     shown=_small(result.detail), now=now,
                                                     actor=(actor or self.actor).name)
                if recorded is not None:
                    session.commit()
                    if recorded.ended:
                        log.info("execution succeeded", extra={"execution_id": recorded.execution_id})
                    if recorded.step_kind == "retry":
                        self._breaker_outcome(recorded.service, result, probe=recorded.probe)
                    return None
            loaded = store.load(session, attempt_id)
            if loaded is None:
                return None
            dispatch = self._record_in(session, loaded, result, now=now, actor=actor, note=note)
            session.commit()
        if loaded.attempt.step_kind == "retry":
            self._breaker_outcome(loaded.execution.service, result,
                                  probe=bool((loaded.attempt.detail or {}).get("probe")))
        return dispatch

    def _record_in(self, session: Session, loaded: store.Loaded, result: AttemptResult, *, now: datetime,
                   actor: Actor | None = None, note: store.Note | None = None) -> Dispatch | None:
        actor = actor or self.actor
        attempt, execution = loaded.attempt, loaded.execution
        won = store.finish(session, attempt, state=attempt_state_for(result.outcome), outcome=result.outcome,
                           error=result.error, detail=result.detail, now=now)
        if not won:
            self._late_outcome(session, execution, attempt, result, now=now, actor=actor)
            return None
        if note is not None:
            store.write_note(session, execution, note, at=now, actor=actor, attempt_id=attempt.id)
        if execution.state in FINISHED or attempt.run != execution.run:
            return None
        if result.error:
            execution.last_error = result.error
        plan = loaded.plan
        onward = engine.after_outcome(plan, attempt.step_index, attempt.number, result, loaded.event, rng=self.rng)
        # The outcome goes in the audit row of the transition it causes: one row, not two.
        outcome_of = {"step": attempt.step_index + 1, "attempt": attempt.number, "outcome": result.outcome,
                      "error": result.error, **_small(result.detail)}
        cause = Cause(attempt.id, {"outcome_of": outcome_of})
        return self.apply(session, execution, onward, now=now, actor=actor, plan=plan, cause=cause)

    def _late_outcome(self, session: Session, execution: Execution, attempt: Attempt, result: AttemptResult, *,
                      now: datetime, actor: Actor) -> None:
        """An outcome for an attempt already decided: a success after its deadline still ends the work."""
        session.refresh(attempt)
        if (result.succeeded and attempt.state == TIMED_OUT and execution.state not in FINISHED
                and attempt.run == execution.run and attempt.step_kind in ENDING_KINDS):
            store.cancel_open_attempts(session, execution.id, now=now)
            store.transition(session, execution, SUCCEEDED, now=now, actor=actor, action="succeeded",
                             attempt_id=attempt.id, reason=f"attempt {attempt.number} succeeded after its deadline")
            return
        log.info("outcome ignored: attempt already decided", extra={
            "attempt_id": attempt.id, "execution_id": execution.id, "attempt_state": attempt.state,
            "outcome": result.outcome})

    def apply(self, session: Session, execution: Execution, onward: engine.Next, *, now: datetime,
              actor: Actor, plan: PlanSpec | None = None, cause: Cause | None = None) -> Dispatch | None:
        """Carry out the engine's decision in the caller's transaction: finish the execution, or schedule
        its next attempt (returned, to send after the commit). `plan`: the execution's, when already parsed;
        `cause`: the outcome that led here, for the transition's audit row."""
        for skip in onward.skipped:
            store.audit(session, execution, at=now, actor=actor, action="step_skipped", reason=skip.reason,
                        detail={"step": skip.step_index + 1})
        decision = onward.decision
        cause = cause or Cause(None, {})
        if isinstance(decision, engine.Finish):
            if cause.attempt_id is None:  # after an outcome, the attempt just finished was the only open one
                store.cancel_open_attempts(session, execution.id, now=now)
            store.transition(session, execution, decision.state, now=now, actor=actor, action=decision.state,
                             reason=decision.reason, attempt_id=cause.attempt_id, detail=cause.detail or None)
            log.info(f"execution {decision.state}", extra={"execution_id": execution.id, "reason": decision.reason})
            return None
        plan = plan or PlanSpec.model_validate(execution.plan)
        dispatch = self._schedule(session, execution, decision, plan, now=now)
        state = PENDING if execution.state == PENDING else WAITING
        store.transition(session, execution, state, now=now, actor=actor, action="scheduled",
                         attempt_id=dispatch.attempt_id, reason=decision.reason, step_index=decision.step_index,
                         next_attempt_at=now + timedelta(seconds=decision.delay_s),
                         detail={"step": decision.step_index + 1, "attempt": decision.number,
                                 "delay_s": round(decision.delay_s, 3), **cause.detail})
        return dispatch

    def dispatch_for(self, attempt_id: int, when: datetime, now: datetime, queue: str | None) -> Dispatch:
        """The message that runs an attempt due `when`: a countdown, or left to the sweeper if that is too far."""
        return Dispatch(attempt_id, self._countdown_s(max(0.0, (when - now).total_seconds())), queue)

    # --- breakers --------------------------------------------------------------------------

    def _breaker_outcome(self, service: str, result: AttemptResult, *, probe: bool) -> None:
        if result.succeeded:
            # A rate breaker counts successes too; a count breaker only a probe's: skip the round trip then.
            if probe or self.plans.breaker_config(service).mode == "rate":
                self.breakers.record_success(service, probe=probe)
        elif result.counts_against_breaker:
            self.breakers.record_failure(service, probe=probe)
        else:
            self.breakers.release(service, probe=probe)

    def _breaker_transition(self, service: str, transition: Transition, actor: str) -> None:
        now = self.clock()
        message = breaker_message(service, transition)
        # A breaker doing its job is a warning, not an error: medic holds the work back and goes on.
        message = replace(message, level="info" if transition.to_state == "closed" else "warning")
        with self.session() as session:
            session.add(BreakerTransition(service=service, at=now, from_state=transition.from_state,
                                          to_state=transition.to_state, reason=transition.reason, actor=actor))
            row = notifications.enqueue(session, message, channel=self.settings.breaker_channel, now=now,
                                        cooldown_s=0)
            session.commit()
            notification_id = row.id
        log.warning(message.subject, extra={"service": service, "reason": transition.reason, "actor": actor})
        request_delivery(self.dispatcher, notification_id)
        if transition.to_state == "closed":
            self._release_deferred(service)

    def _release_deferred(self, service: str) -> int:
        """The breaker of `service` closed: what waits behind it is due now, spread over
        policy.release_window_s and sent at once (a countdown each). The messages sent for the old
        times find them claimed or not yet due (then sent again for their time) and do nothing."""
        now = self.clock()
        config = self.plans.breaker_config(service)
        reason = f"circuit breaker of {service} closed"
        dispatches = []
        with self.session() as session:
            waiting = store.deferred_by_breaker(session, service, limit=RELEASE_BATCH)
            for deferred, offset_s in zip(waiting, policy.release_offsets(len(waiting), config, self.rng),
                                          strict=True):
                when = now + timedelta(seconds=offset_s)
                dispatch = self.dispatch_for(deferred.attempt_id, when, now, deferred.queue)
                if store.release_deferred(session, deferred, scheduled_for=when, now=now, actor=self.actor,
                                          reason=reason,
                                          dispatched_at=when if dispatch.countdown_s is not None else None):
                    dispatches.append(dispatch)
            session.commit()
        for dispatch in dispatches:
            self.after_commit(dispatch)
        if dispatches:
            log.info("deferred attempts released", extra={
                "service": service, "released": len(dispatches),
                "over_s": round(policy.release_window_s(len(dispatches), config), 3)})
        return len(dispatches)

    # --- notifications ---------------------------------------------------------------------

    def deliver(self, notification_id: int, token: datetime | None = None) -> str:
        """Send one queued notification through its channel (workers.notify.delivery.deliver_queued)."""
        with self.session() as session:
            return deliver_queued(session, notification_id, settings=self.settings, now=self.clock(), http=self.http,
                                  token=token)

    # --- the sweeper -----------------------------------------------------------------------

    def sweep(self) -> dict[str, int] | None:
        """Send due attempts and lost messages, time out attempts past their deadline, deliver
        due notifications. Single-flight: None when another sweep holds the lease."""
        now = self.clock()
        holder = self.actor.name
        ttl_s = max(10.0, 5 * self.settings.recovery_sweep_interval_s)  # a sweeper that died frees it soon
        with self.session() as session:
            if not leases.acquire(session, SWEEP_LEASE, holder, now=now, ttl_s=ttl_s):
                return None
        try:
            return {"dispatched": self._sweep_due(now), "resent": self._sweep_unsent(now),
                    "timed_out": self._sweep_expired(now), "notifications": self._sweep_notifications(now)}
        finally:
            with self.session() as session:
                leases.release(session, SWEEP_LEASE, holder)

    def _sweep_due(self, now: datetime) -> int:
        redispatch_before = now - timedelta(seconds=self.settings.recovery_redispatch_after_s)
        with self.session() as session:
            due = store.due_attempts(session, now=now, redispatch_before=redispatch_before, limit=SWEEP_BATCH)
            if due:
                store.mark_dispatched(session, [attempt_id for attempt_id, _ in due], now=now)
            session.commit()
        for attempt_id, queue in due:
            self.after_commit(Dispatch(attempt_id, 0, queue))
        return len(due)

    def _sweep_unsent(self, now: datetime) -> int:
        """Celery replays claimed but never published (the process stopped in between): claimed
        again by a medic.recovery.run message, not left to their deadline."""
        after_s = self.settings.recovery_redispatch_after_s
        dispatches = []
        sweeper = Actor("sweeper")
        with self.session() as session:
            for unsent in store.unsent_attempts(session, claimed_before=now - timedelta(seconds=after_s),
                                                limit=SWEEP_BATCH):
                execution = session.get(Execution, unsent.execution_id)
                if execution is None or not store.unclaim(session, unsent.attempt_id, scheduled_for=now,
                                                           dispatched_at=now):
                    continue
                store.transition(session, execution, WAITING, now=now, actor=sweeper, action="resent",
                                 attempt_id=unsent.attempt_id, next_attempt_at=now,
                                 reason=f"claimed by {unsent.claimed_by} but not sent within {after_s:g} s "
                                        "(its process stopped?); sent again")
                dispatches.append(Dispatch(unsent.attempt_id, 0, unsent.queue))
            session.commit()
        for dispatch in dispatches:
            self.after_commit(dispatch)
        return len(dispatches)

    def _sweep_expired(self, now: datetime) -> int:
        with self.session() as session:
            expired = store.expired_attempt_ids(session, now=now, limit=SWEEP_BATCH)
        timeout = AttemptResult("timeout", "no outcome by the attempt's deadline")
        for attempt_id in expired:
            self.after_commit(self.record(attempt_id, timeout, actor=Actor("sweeper")))
        return len(expired)

    def _sweep_notifications(self, now: datetime) -> int:
        with self.session() as session:
            leased = notifications.lease_due(session, now=now, limit=SWEEP_BATCH)
        for notification_id, token in leased:
            request_delivery(self.dispatcher, notification_id, token)
        return len(leased)


def _claimed_reason(number: int, step_index: int, plan: PlanSpec) -> str:
    return f"attempt {number} of step {step_index + 1} ({plan.steps[step_index].kind})"


def _retry_after_hint(event: dict[str, Any]) -> float | None:
    """An app may pass the Retry-After it was given in context.retry_after_s."""
    value = (event.get("context") or {}).get("retry_after_s")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


def _small(detail: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in detail.items() if key != "body_preview"}
