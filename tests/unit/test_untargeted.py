"""Recovery only where there is something to recover: `has_work` and `PlanSet.recoverable`.

An event whose plan has no step that can act on it (no replay, fallback or compensate target for
its call steps, no action step) gets no execution, so it can never become a dead letter; the
engine's own skipping (enter_step) follows the same rule, checked here against it.
"""

from __future__ import annotations

import random

import pytest

from workers.recovery import engine
from workers.recovery.plans import PlanSpec, builtin_plan_paths, load_plans

CELERY = {"kind": "celery", "task": "app.t", "queue": "app"}
HTTP = {"kind": "http", "method": "POST", "url": "https://partner.example/push"}
PLAIN = {"error_type": "KeyError", "message": "'x'", "service": "orders"}
PLANS = load_plans(builtin_plan_paths())


def plan(*steps: dict) -> PlanSpec:
    return PlanSpec.model_validate({"name": "p", "steps": list(steps)})


RETRY, FALLBACK, COMPENSATE = {"kind": "retry"}, {"kind": "fallback"}, {"kind": "compensate"}
NOTIFY, ESCALATE, DEAD = {"kind": "notify"}, {"kind": "escalate"}, {"kind": "dead_letter"}
ACTION = {"kind": "action", "name": "noop"}


@pytest.mark.parametrize("steps, event, expected", [
    ((RETRY, FALLBACK, ESCALATE, DEAD), PLAIN, False),
    ((RETRY, FALLBACK, ESCALATE, DEAD), {**PLAIN, "replay": CELERY}, True),
    ((RETRY, FALLBACK, ESCALATE, DEAD), {**PLAIN, "fallback": HTTP}, True),
    ((RETRY, FALLBACK, ESCALATE, DEAD), {**PLAIN, "compensate": HTTP}, False),  # no compensate step
    ((COMPENSATE, NOTIFY, DEAD), {**PLAIN, "compensate": HTTP}, True),
    ((COMPENSATE, NOTIFY, DEAD), {**PLAIN, "replay": CELERY}, False),  # no retry step
    (({"kind": "fallback", "target": HTTP}, DEAD), PLAIN, True),  # the plan's own target
    (({"kind": "compensate", "target": CELERY}, NOTIFY, DEAD), PLAIN, True),
    ((NOTIFY, ACTION, DEAD), PLAIN, True),  # an action step acts whatever the event
    ((NOTIFY, DEAD), {**PLAIN, "replay": CELERY}, False),
    ((ESCALATE, DEAD), PLAIN, False),
    ((NOTIFY, DEAD, RETRY), {**PLAIN, "replay": CELERY}, False),  # after a dead letter nothing runs
])
def test_has_work(steps, event, expected):
    assert engine.has_work(plan(*steps), event) is expected


@pytest.mark.parametrize("steps", [
    (RETRY, FALLBACK, ESCALATE, DEAD), (COMPENSATE, NOTIFY, DEAD), (NOTIFY, ACTION, DEAD), (ESCALATE, DEAD),
    (RETRY, COMPENSATE, {"kind": "fallback", "target": HTTP}, DEAD), (NOTIFY, DEAD, RETRY), (RETRY, FALLBACK),
])
@pytest.mark.parametrize("targets", [{}, {"replay": CELERY}, {"fallback": HTTP}, {"compensate": HTTP},
                                     {"replay": CELERY, "fallback": HTTP, "compensate": HTTP}])
def test_has_work_is_exactly_whether_an_execution_would_try_a_call_step(steps, targets):
    """One decision, not two: walk the engine as if every attempt failed for good, and see whether
    it ever schedules a call step."""
    spec, event = plan(*steps), {**PLAIN, **targets}
    tried, decision = False, engine.enter_step(spec, 0, event, rng=random.Random(1)).decision
    while isinstance(decision, engine.Schedule):
        step = spec.steps[decision.step_index]
        tried = tried or step.kind in ("retry", "fallback", "compensate", "action")
        decision = engine.enter_step(spec, decision.step_index + 1, event, rng=random.Random(1)).decision
    assert engine.has_work(spec, event) is tried


@pytest.mark.parametrize("category", ["network", "timeout", "unavailable", "conflict", "unknown", "rate_limit",
                                      "resource", "auth", "configuration", "validation", "not_found", "data",
                                      "internal", "billing_quota"])
def test_a_plain_error_report_is_recoverable_under_no_builtin_plan(category):
    assert PLANS.recoverable(PLAIN, category, "high") is None


@pytest.mark.parametrize("category, targets, plan_name", [
    ("network", {"replay": CELERY}, "transient"),
    ("unknown", {"replay": CELERY}, "unrecognised"),
    ("rate_limit", {"fallback": HTTP}, "rate-limited"),
    ("resource", {"replay": CELERY}, "resource-exhausted"),
    ("validation", {"compensate": HTTP}, "bad-request"),
    ("internal", {"compensate": HTTP}, "bug"),
])
def test_recoverable_returns_the_selected_plan_when_it_has_work(category, targets, plan_name):
    event = {**PLAIN, **targets}
    found = PLANS.recoverable(event, category, "high")
    assert found is not None and found is PLANS.select(event, category, "high") and found.name == plan_name


@pytest.mark.parametrize("category, targets", [
    ("auth", {"replay": CELERY, "fallback": HTTP}),  # needs-a-person replays nothing
    ("internal", {"replay": CELERY}),  # bug: a replay would run the same bug
    ("validation", {"replay": HTTP}),  # bad-request: replaying cannot fix the input
])
def test_targets_the_plan_has_no_step_for_are_no_work(category, targets):
    assert PLANS.recoverable({**PLAIN, **targets}, category, "high") is None
