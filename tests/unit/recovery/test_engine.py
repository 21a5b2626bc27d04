"""The pure engine: delays, step transitions and skips, table-driven, no clock, no sleeping."""

from __future__ import annotations

import random

import pytest

from workers.recovery import engine
from workers.recovery.outcomes import AttemptResult, permanent, retryable, success
from workers.recovery.plans import PlanSpec

CELERY = {"kind": "celery", "task": "app.t", "queue": "app"}
HTTP = {"kind": "http", "method": "POST", "url": "http://x/y"}


def plan(*steps: dict, on_exhausted: str = "dead_letter") -> PlanSpec:
    return PlanSpec.model_validate({"name": "p", "steps": list(steps), "on_exhausted": on_exhausted})


RETRY = {"kind": "retry", "max_attempts": 3, "initial_delay_s": 1, "backoff_rate": 2, "max_delay_s": 3,
         "jitter": "none"}
STANDARD = plan(RETRY, {"kind": "fallback"}, {"kind": "notify"}, {"kind": "dead_letter"})
EVENT = {"replay": CELERY, "fallback": HTTP}
RNG = random.Random(7)


@pytest.mark.parametrize("event, expected", [
    (EVENT, engine.Schedule(0, 1, 1.0, "step 1 (retry)")),
    ({"fallback": HTTP}, engine.Schedule(1, 1, 0.0, "step 2 (fallback)")),  # no replay: retry skipped
    ({}, engine.Schedule(2, 1, 0.0, "step 3 (notify)")),  # neither: straight to notify
])
def test_first_step_skips_steps_without_a_target(event, expected):
    assert engine.enter_step(STANDARD, 0, event, rng=RNG).decision == expected


def test_skips_are_reported_with_reasons():
    skipped = engine.enter_step(STANDARD, 0, {}, rng=RNG).skipped
    assert [s.step_index for s in skipped] == [0, 1]
    assert "no replay target" in skipped[0].reason and "no fallback target" in skipped[1].reason


@pytest.mark.parametrize("step_index, number, result, expected", [
    # retryable under max_attempts: next attempt, policy delay 1 * 2**(n-1) capped at 3
    (0, 1, retryable("x"), engine.Schedule(0, 2, 2.0, "attempt 1 retryable")),
    (0, 2, retryable("x"), engine.Schedule(0, 3, 3.0, "attempt 2 retryable")),
    (0, 2, AttemptResult("timeout", "late"), engine.Schedule(0, 3, 3.0, "attempt 2 timeout")),
    # exhausted: the next step
    (0, 3, retryable("x"), engine.Schedule(1, 1, 0.0, "step 2 (fallback)")),
    # permanent: next step at once, whatever attempts remain
    (0, 1, permanent("HTTP 400"), engine.Schedule(1, 1, 0.0, "step 2 (fallback)")),
    # success of retry or fallback ends the execution
    (0, 2, success(), engine.Finish("succeeded", "step 1 (retry) succeeded")),
    (1, 1, success(), engine.Finish("succeeded", "step 2 (fallback) succeeded")),
    # fallback's single attempt failing: notify
    (1, 1, retryable("x"), engine.Schedule(2, 1, 0.0, "step 3 (notify)")),
    # notify succeeded: it does not end the execution; dead_letter does
    (2, 1, success(), engine.Finish("dead", "dead_letter step")),
])
def test_after_outcome(step_index, number, result, expected):
    assert engine.after_outcome(STANDARD, step_index, number, result, EVENT, rng=RNG).decision == expected


def test_running_out_of_steps_is_dead_or_failed_as_the_plan_says():
    only_retry = {**RETRY, "max_attempts": 1}
    assert engine.after_outcome(plan(only_retry), 0, 1, retryable("x"), EVENT, rng=RNG).decision == \
        engine.Finish("dead", "no step left to try")
    assert engine.after_outcome(plan(only_retry, on_exhausted="fail"), 0, 1, retryable("x"), EVENT,
                                rng=RNG).decision == \
        engine.Finish("failed", "no step left to try")


def test_compensate_success_goes_on():
    p = plan({"kind": "compensate", "target": CELERY}, {"kind": "dead_letter"})
    assert engine.enter_step(p, 0, {}, rng=RNG).decision == engine.Schedule(0, 1, 0.0, "step 1 (compensate)")
    assert engine.after_outcome(p, 0, 1, success(), {}, rng=RNG).decision == engine.Finish("dead", "dead_letter step")


@pytest.mark.parametrize("retry_after_s, honour, cap_s, expected_s", [
    (None, True, 3600, 2.0),  # the policy's delay
    (10, True, 3600, 10.0),  # the peer asked for longer
    (0.5, True, 3600, 2.0),  # shorter than the policy: the policy wins
    (10, False, 3600, 2.0),  # not honoured
    (10_000, True, 60, 60.0),  # capped
])
def test_retry_after(retry_after_s, honour, cap_s, expected_s):
    p = plan({**RETRY, "honour_retry_after": honour, "max_retry_after_s": cap_s})
    decision = engine.after_outcome(p, 0, 1, retryable("429", retry_after_s=retry_after_s), EVENT, rng=RNG).decision
    assert decision.delay_s == expected_s


def test_retry_after_hint_on_the_first_attempt():
    assert engine.enter_step(STANDARD, 0, EVENT, rng=RNG, hint_retry_after_s=30).decision.delay_s == 30


@pytest.mark.parametrize("jitter, low, high", [("full", 0, 4), ("equal", 2, 4), ("none", 4, 4)])
def test_jitter_bounds(jitter, low, high):
    """Attempt 3 of initial 1 s, rate 2: 4 s, jittered within the documented bounds."""
    p = plan({**RETRY, "max_attempts": 5, "max_delay_s": 100, "jitter": jitter})
    rng = random.Random(1)
    delays = [engine.after_outcome(p, 0, 2, retryable("x"), EVENT, rng=rng).decision.delay_s for _ in range(500)]
    assert all(low <= d <= high for d in delays)
    if jitter != "none":
        assert max(delays) - min(delays) > (high - low) / 2  # actually spread


def test_seeded_rng_is_deterministic():
    p = plan({**RETRY, "jitter": "full"})
    first = [engine.after_outcome(p, 0, 1, retryable("x"), EVENT,
                                  rng=random.Random(3)).decision.delay_s for _ in range(3)]
    assert len(set(first)) == 1


def test_fallback_attempts_after_the_first_back_off():
    p = plan({"kind": "fallback", "max_attempts": 3, "initial_delay_s": 5, "jitter": "none"})
    assert engine.enter_step(p, 0, EVENT, rng=RNG).decision.delay_s == 0
    assert engine.after_outcome(p, 0, 1, retryable("x"), EVENT, rng=RNG).decision.delay_s == 5
    assert engine.after_outcome(p, 0, 2, retryable("x"), EVENT, rng=RNG).decision.delay_s == 10


@pytest.mark.parametrize("on_open, expected",
                         [("defer", None), ("next", engine.Schedule(1, 1, 0.0, "step 2 (fallback)"))])
def test_breaker_open(on_open, expected):
    p = plan({**RETRY, "on_breaker_open": on_open}, {"kind": "fallback"})
    onward = engine.after_breaker_open(p, 0, EVENT, rng=RNG)
    assert (onward.decision if onward else None) == expected


def test_plan_target_wins_over_the_event():
    p = plan({"kind": "fallback", "target": HTTP})
    assert engine.target_of(p.steps[0], {"fallback": CELERY}) == {**HTTP, "headers": {}, "body": None,
                                                                  "timeout_s": 10.0, "idempotency": "event"}


def test_explain_lists_every_attempts_wait():
    rows = engine.explain(STANDARD, EVENT, rng=RNG)
    assert rows[0]["kind"] == "retry" and rows[0]["delays_s"] == [1.0, 2.0, 3.0]
    assert rows[0]["target"] == "celery task app.t on queue app"
    assert rows[1]["target"].startswith("HTTP POST") and rows[2]["channel"] == "log"
    assert "skipped" in engine.explain(STANDARD, {}, rng=RNG)[0]


@pytest.mark.parametrize(("step", "event", "delay_s", "expected"), [
    ({"kind": "retry"}, {"replay": CELERY}, 0.0, True),
    ({"kind": "retry"}, {"replay": CELERY}, 0.5, False),  # not due yet: a run message, when it is
    ({"kind": "retry"}, {"replay": HTTP}, 0.0, False),  # the call waits for the partner's answer
    ({"kind": "fallback"}, {"fallback": CELERY}, 0.0, True),
    ({"kind": "fallback", "target": HTTP}, {"fallback": CELERY}, 0.0, False),  # the plan's own target wins
    ({"kind": "action", "name": "noop"}, {"replay": CELERY}, 0.0, False),
    ({"kind": "notify"}, {"replay": CELERY}, 0.0, False),
], ids=["celery-now", "celery-later", "http", "fallback-celery", "fallback-plan-http", "action", "notify"])
def test_only_a_celery_send_due_now_is_claimed_by_the_transaction_that_creates_it(step, event, delay_s, expected):
    spec = plan(step, {"kind": "dead_letter"})
    assert engine.sent_at_start(spec.steps[0], event, delay_s) is expected


def test_an_inform_step_calls_the_fallback_target_and_goes_on_when_it_succeeds():
    p = plan({"kind": "inform"}, {"kind": "notify"}, {"kind": "dead_letter"})
    event = {"fallback": CELERY}
    assert engine.target_of(p.steps[0], event) == CELERY
    onward = engine.after_outcome(p, 0, 1, success(), event, rng=RNG)
    assert onward.decision == engine.Schedule(1, 1, 0.0, "step 2 (notify)")
