"""The recovery engine: what happens next, given a plan, where an execution is, and an outcome.

Pure: the random source is passed in, times are offsets in seconds; storage and dispatch are
the service's business (workers/recovery/service.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from workers.backoff import backoff_delay_s
from workers.recovery.outcomes import AttemptResult
from workers.recovery.plans import (
    CALL_STEPS,
    ENDING_KINDS,
    TARGET_FIELDS,
    ActionStep,
    CallStep,
    DeadLetterStep,
    EscalateStep,
    NotifyStep,
    PlanSpec,
    RetryStep,
    has_work,
    passed_over,
    target_of,
)

__all__ = ["Finish", "Next", "Schedule", "Skip", "after_breaker_open", "after_outcome", "enter_step", "explain",
           "first_attempt_delay_s", "has_work", "policy_delay_s", "sends_celery_task", "sent_at_start", "target_of"]


@dataclass(frozen=True)
class Schedule:
    """Run attempt `number` of step `step_index` after `delay_s`."""

    step_index: int
    number: int
    delay_s: float
    reason: str


@dataclass(frozen=True)
class Finish:
    state: str  # succeeded | dead | failed
    reason: str


@dataclass(frozen=True)
class Skip:
    step_index: int
    reason: str


@dataclass(frozen=True)
class Next:
    """The decision, and the steps passed over on the way to it (each audited)."""

    decision: Schedule | Finish
    skipped: tuple[Skip, ...] = ()


def first_attempt_delay_s(step: Any, *, hint_retry_after_s: float | None, rng: random.Random) -> float:
    """A retry replays what just failed, so its first attempt waits; any other step starts now."""
    if not isinstance(step, RetryStep):
        return 0.0
    return _with_retry_after(step, policy_delay_s(step, 1, rng), hint_retry_after_s)


def policy_delay_s(step: CallStep, number: int, rng: random.Random) -> float:
    """The wait before attempt `number` (1-based) of a step, by its policy."""
    index = number - 1 if isinstance(step, RetryStep) else number - 2
    if index < 0:
        return 0.0
    return backoff_delay_s(index, initial_s=step.initial_delay_s, rate=step.backoff_rate, max_s=step.max_delay_s,
                           jitter=step.jitter, rng=rng)


def sent_at_start(step: Any, event: dict[str, Any], delay_s: float) -> bool:
    """Whether an attempt may be claimed by the transaction that creates it: it is due now and its
    work is only to send the app's Celery task (nothing that waits on a call or runs a plugin)."""
    return delay_s <= 0 and sends_celery_task(step, event)


def sends_celery_task(step: Any, event: dict[str, Any]) -> bool:
    """Whether a step's work is to publish the app's Celery task (its outcome comes back by callback)."""
    if not isinstance(step, CALL_STEPS) or isinstance(step, ActionStep):
        return False
    target = target_of(step, event)
    return target is not None and target.get("kind") == "celery"


def _with_retry_after(step: CallStep, delay_s: float, retry_after_s: float | None) -> float:
    if retry_after_s is None or not step.honour_retry_after:
        return delay_s
    return max(delay_s, min(retry_after_s, step.max_retry_after_s))


def enter_step(plan: PlanSpec, step_index: int, event: dict[str, Any], *, rng: random.Random,
               hint_retry_after_s: float | None = None) -> Next:
    """Start the first step at or after `step_index` that has something to do."""
    skipped: list[Skip] = []
    for index in range(step_index, len(plan.steps)):
        step = plan.steps[index]
        if isinstance(step, DeadLetterStep):
            return Next(Finish("dead", "dead_letter step"), tuple(skipped))
        if passed_over(step, event):  # the same rule as has_work: one decision
            skipped.append(Skip(index, f"{step.kind}: the event has no {_target_field(step)} target"))
            continue
        delay_s = first_attempt_delay_s(step, hint_retry_after_s=hint_retry_after_s, rng=rng)
        return Next(Schedule(index, 1, delay_s, f"step {index + 1} ({step.kind})"), tuple(skipped))
    return Next(_exhausted(plan), tuple(skipped))


def _target_field(step: Any) -> str:
    return TARGET_FIELDS.get(step.kind, step.kind)


def _exhausted(plan: PlanSpec) -> Finish:
    state = "dead" if plan.on_exhausted == "dead_letter" else "failed"
    return Finish(state, "no step left to try")


def after_outcome(plan: PlanSpec, step_index: int, number: int, result: AttemptResult, event: dict[str, Any], *,
                  rng: random.Random) -> Next:
    """Where an execution goes after attempt `number` of step `step_index` came to `result`."""
    step = plan.steps[step_index]
    if result.succeeded:
        if step.kind in ENDING_KINDS:
            return Next(Finish("succeeded", f"step {step_index + 1} ({step.kind}) succeeded"))
        return enter_step(plan, step_index + 1, event, rng=rng)
    if result.outcome != "permanent" and isinstance(step, CALL_STEPS) and number < step.max_attempts:
        delay_s = _with_retry_after(step, policy_delay_s(step, number + 1, rng), result.retry_after_s)
        return Next(Schedule(step_index, number + 1, delay_s, f"attempt {number} {result.outcome}"))
    return enter_step(plan, step_index + 1, event, rng=rng)


def after_breaker_open(plan: PlanSpec, step_index: int, event: dict[str, Any], *, rng: random.Random) -> Next | None:
    """None: defer the attempt until the breaker half-opens; else go on with the next step."""
    step = plan.steps[step_index]
    if isinstance(step, RetryStep) and step.on_breaker_open == "next":
        return enter_step(plan, step_index + 1, event, rng=rng)
    return None


def explain(plan: PlanSpec, event: dict[str, Any], *, rng: random.Random) -> list[dict[str, Any]]:
    """Each step and the waits its attempts would have, were every attempt to fail."""
    steps = []
    for index, step in enumerate(plan.steps):
        row: dict[str, Any] = {"step": index + 1, "kind": step.kind}
        if isinstance(step, CALL_STEPS):
            target = {"kind": "action", "name": step.name} if isinstance(step, ActionStep) else target_of(step, event)
            row["target"] = _describe_target(target)
            row["delays_s"] = [round(first_attempt_delay_s(step, hint_retry_after_s=None, rng=rng), 3)] + [
                round(policy_delay_s(step, number, rng), 3) for number in range(2, step.max_attempts + 1)]
            if target is None:
                row["skipped"] = f"the event has no {_target_field(step)} target"
        elif isinstance(step, (NotifyStep, EscalateStep)):
            row["channel"], row["level"] = step.channel, step.level
        steps.append(row)
    return steps


def _describe_target(target: dict[str, Any] | None) -> str | None:
    if not target:
        return None
    if target.get("kind") == "celery":
        return f"celery task {target.get('task')} on queue {target.get('queue') or 'celery'}"
    if target.get("kind") == "http":
        return f"HTTP {target.get('method', 'POST')} {target.get('url')}"
    return f"action {target.get('name')}"
