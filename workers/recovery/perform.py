"""Doing one step's work: a replay (Celery, HTTP, plugin action) or queueing a notification.

A Celery replay only sends: its outcome arrives later through link/link_error (None here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from config.settings import Settings
from workers.intake.contract import HttpTarget
from workers.masking import mask_text
from workers.notify import queue
from workers.notify.delivery import DeliverySender
from workers.notify.recovery_messages import execution_message
from workers.recovery import callback_signing, outcomes, target_policy
from workers.recovery.actions import ActionContext, ActionRegistry
from workers.recovery.http_replay import replay_http
from workers.recovery.outcomes import AttemptResult
from workers.recovery.plans import ActionStep, EscalateStep, NotifyStep
from workers.storage.models import Execution

log = logging.getLogger("medic.recovery")


class Dispatcher(DeliverySender, Protocol):
    """How the engine sends messages (and asks for deliveries); Celery's in tasks, a recording fake in tests."""

    def run_attempt(self, attempt_id: int, countdown_s: float, queue: str | None = None) -> None: ...

    def replay(self, target: dict[str, Any], *, task_id: str, attempt_id: int, execution_id: int,
               idempotency_key: str, signature: str) -> None: ...


def idempotency_key(execution_id: int, event: dict[str, Any], target: dict[str, Any]) -> str:
    """One key for every attempt of an execution, so the receiver can do the operation once: the event's own
    key (the one the app's original call used) unless the target asks for the execution's, or there is none."""
    own = event.get("idempotency_key")
    if target.get("idempotency", "event") == "event" and isinstance(own, str) and own:
        return own
    return f"medic-execution-{execution_id}"


@dataclass(frozen=True)
class Call:
    """The attempt a step's work belongs to, as the performer needs it: read by a claim, or known
    to the transaction that created the attempt already claimed."""

    execution_id: int
    attempt_id: int
    attempt_number: int


@dataclass
class Performer:
    settings: Settings
    dispatcher: Dispatcher
    actions: ActionRegistry
    clock: Callable[[], datetime]
    # The key that signs a Celery replay's callbacks (read when the first replay is sent).
    callback_key: Callable[[], bytes] | None = None

    def call(self, step: Any, target: dict[str, Any] | None, call: Call, event: dict[str, Any]) -> AttemptResult | None:
        if isinstance(step, ActionStep):
            target = {"kind": "action", "name": step.name, "params": step.params}
        if target is None:
            return outcomes.permanent(f"{step.kind}: nothing to call")
        refused = target_policy.refusal(target, by_plan=target_policy.named_by_plan(step),
                                        allowed=self.settings.replay_targets)
        if refused is not None:  # nothing is sent: the execution goes on to its next step
            refused = mask_text(refused)
            log.warning("replay target refused", extra={"execution_id": call.execution_id,
                                                        "attempt_id": call.attempt_id, "error": refused})
            return outcomes.permanent(refused, refused=True)
        kind = target.get("kind")
        if kind == "celery":
            return self._celery(target, call, idempotency_key(call.execution_id, event, target))
        if kind == "http":
            # Credentials are added by origin inside (MEDIC_REPLAY_HTTP_HEADERS): the event's were masked at intake.
            return replay_http(HttpTarget.model_validate(target),
                               idempotency_key=idempotency_key(call.execution_id, event, target),
                               now=self.clock, settings=self.settings)
        context = ActionContext(execution_id=call.execution_id, attempt_id=call.attempt_id,
                                attempt_number=call.attempt_number,
                                event=event, params=dict(target.get("params") or {}))
        return self.actions.run(target["name"], context)

    def _celery(self, target: dict[str, Any], call: Call, key: str) -> AttemptResult | None:
        if self.callback_key is None:
            raise RuntimeError("no callback key: Celery replays need one to sign their callbacks")
        task_id = f"medic-{call.execution_id}-{call.attempt_id}"
        try:  # the key is read from the database once, when the first replay is sent
            signature = callback_signing.sign(self.callback_key(), call.attempt_id, task_id)
            self.dispatcher.replay(target, task_id=task_id, attempt_id=call.attempt_id, execution_id=call.execution_id,
                                   idempotency_key=key, signature=signature)
        except Exception as exc:  # the broker refused the message (or no key was read): the replay did not start
            return outcomes.retryable(f"could not send task {target.get('task')}: {type(exc).__name__}: {exc}")
        return None


def notify(session: Session, step: NotifyStep | EscalateStep, execution: Execution, event: dict[str, Any], *,
           now: datetime, cooldown_s: float) -> tuple[AttemptResult, int | None]:
    """Queue the step's notification; returns the result and the id to deliver (None: suppressed)."""
    message = execution_message(execution, event, kind=step.kind, level=step.level)
    row = queue.enqueue(session, message, channel=step.channel, now=now, cooldown_s=cooldown_s)
    if row.state == queue.SUPPRESSED:
        return outcomes.success(notification_id=row.id, suppressed=True), None
    return outcomes.success(notification_id=row.id), row.id
