"""Group signals' decision (workers/notify/signal_policy.py): new once, regressed and spike once per
cooldown, the rate window; a storm of 100,000 identical errors sends a bounded number of signals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workers.notify.signal_policy import (
    KINDS,
    NEW,
    REGRESSED,
    SPIKE,
    Batch,
    SignalLimits,
    SignalState,
    count,
    decide,
    rate,
    signal_message,
)
from workers.recovery.plans import builtin_plan_paths, load_plans

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
LIMITS = SignalLimits(regressed_cooldown_s=3600, spike_window_s=300, spike_threshold=100, spike_cooldown_s=3600)
ALL = frozenset(KINDS)
PLANS = load_plans(builtin_plan_paths())


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(batches: list[tuple[float, Batch]], *, wanted: frozenset[str] = ALL, state: SignalState | None = None,
        limits: SignalLimits = LIMITS) -> tuple[list[tuple[float, str]], SignalState]:
    """Feed batches (seconds after T0, batch) through decide; the signals fired, with their times."""
    state = state or SignalState()
    fired = []
    for seconds, batch in batches:
        decision = decide(state, batch, wanted=wanted, now=at(seconds), limits=limits)
        state = decision.state
        fired += [(seconds, kind) for kind in decision.fire]
    return fired, state


def plain(occurrences: int = 1) -> Batch:
    return Batch(new=False, regressed=False, occurrences=occurrences)


def test_a_new_group_is_signalled_once():
    fired, state = run([(0, Batch(True, False, 1)), (10, plain()), (20, Batch(True, False, 1))])
    assert fired == [(0, NEW)]
    assert state.new_sent_at == at(0) and state.signals_sent == 1


def test_a_regression_is_signalled_once_per_cooldown():
    fired, _ = run([(0, Batch(False, True, 1)), (600, Batch(False, True, 1)), (3599, Batch(False, True, 1)),
                    (3600, Batch(False, True, 1)), (3700, plain())])
    assert fired == [(0, REGRESSED), (3600, REGRESSED)]


def test_a_rate_below_the_threshold_is_no_spike():
    fired, state = run([(seconds, plain()) for seconds in range(0, 3000, 4)])  # 75 per 300 s
    assert fired == []
    assert 70 <= rate(state, now=at(3000), window_s=300) <= 80


def test_a_spike_is_signalled_when_the_rate_reaches_the_threshold_then_once_per_cooldown():
    steady = [(seconds * 0.5, plain()) for seconds in range(0, 7200 * 2)]  # 2 per second for two hours
    fired, state = run(steady)
    assert [kind for _, kind in fired] == [SPIKE, SPIKE]
    first, second = fired[0][0], fired[1][0]
    assert first == 49.5  # the 100th occurrence
    assert second - first == 3600
    assert state.spike_sent_at == at(second)


def test_a_burst_across_a_window_boundary_counts_whole():
    fired, _ = run([(0, plain()), (290, plain(60)), (310, plain(60))])
    assert fired == [(310, SPIKE)]


def test_a_quiet_spell_forgets_the_rate():
    _, state = run([(0, plain(99))])
    fired, state = run([(601, plain(1))], state=state)
    assert fired == [] and state.window_count == 1 and state.previous_count == 0
    assert rate(state, now=at(601), window_s=300) == 1


def test_the_previous_window_fades_out_linearly():
    _, state = run([(0, plain(100)), (300, plain(0))])  # window 2 starts at 300 with nothing yet
    assert state.window_started_at == at(300) and state.previous_count == 100
    assert rate(state, now=at(300), window_s=300) == 100
    assert rate(state, now=at(450), window_s=300) == 50
    assert rate(state, now=at(600), window_s=300) == 0


def test_a_clock_behind_the_window_counts_into_it():
    state = count(SignalState(), 5, now=at(100), window_s=300)
    state = count(state, 3, now=at(90), window_s=300)  # another worker's clock, 10 s behind
    assert state.window_started_at == at(100) and state.window_count == 8


@pytest.mark.parametrize("wanted, expected", [
    (frozenset({SPIKE}), [SPIKE]),
    (frozenset({NEW, REGRESSED}), [NEW]),
    (frozenset(), []),
])
def test_only_the_kinds_the_plan_wants_fire(wanted, expected):
    fired, state = run([(0, Batch(True, False, 150))], wanted=wanted)
    assert [kind for _, kind in fired] == expected
    assert state.window_count == 150  # counted whatever is wanted


def test_a_signal_not_wanted_is_not_claimed():
    _, state = run([(0, Batch(True, False, 150))], wanted=frozenset({SPIKE}))
    assert state.new_sent_at is None and state.spike_sent_at == at(0)


@pytest.mark.parametrize("plan_name", ["transient", "unrecognised", "rate-limited", "resource-exhausted",
                                       "needs-a-person", "bad-request", "bug", "default"])
@pytest.mark.parametrize("resolved_before", [False, True])
def test_a_storm_of_100000_identical_errors_sends_at_most_three_signals_per_group(plan_name, resolved_before):
    """100,000 events at 275 per second, in batches of 100: under six minutes of storm."""
    plan = PLANS.get(plan_name)
    assert plan is not None
    batches = [(index * 100 / 275, Batch(new=index == 0 and not resolved_before,
                                         regressed=index == 0 and resolved_before, occurrences=100))
               for index in range(1000)]
    fired, state = run(batches, wanted=plan.group_signals.kinds)
    assert len(fired) <= 3 and state.window_count + state.previous_count <= 100_000
    kinds = [kind for _, kind in fired]
    assert len(set(kinds)) == len(kinds)
    assert (SPIKE in kinds) == (SPIKE in plan.group_signals.kinds)
    first = REGRESSED if resolved_before else NEW
    assert (first in kinds) == (first in plan.group_signals.kinds)


def test_a_storm_of_a_day_signals_a_spike_once_an_hour():
    batches = [(index * 100 / 275, plain(100)) for index in range(0, 275 * 86_400 // 100, 10)]  # every 10th batch
    fired, _ = run(batches)
    assert len(fired) == 24


def test_limits_come_from_the_settings():
    from config.settings import Settings

    limits = SignalLimits.from_settings(Settings(group_signal_spike_threshold=7, group_signal_spike_window_s=30,
                                                 group_signal_regressed_cooldown_s=5, group_signal_spike_cooldown_s=9))
    assert limits == SignalLimits(regressed_cooldown_s=5, spike_window_s=30, spike_threshold=7, spike_cooldown_s=9)
    assert SignalLimits.from_settings(Settings()) == SignalLimits()


@pytest.mark.parametrize("kind, step_kind, subject", [
    (NEW, "notify", "new internal error in orders: KeyError"),
    (REGRESSED, "notify", "regressed internal error in orders (it was resolved): KeyError"),
    (SPIKE, "escalate", "escalated: spike of internal errors in orders: KeyError"),
])
def test_the_message_names_the_group_and_the_signal(kind, step_kind, subject):
    event = {"error_type": "KeyError", "message": "'sku'", "service": "orders", "operation": "push"}
    message = signal_message(kind, step_kind=step_kind, level="error", group_id=42, event=event, category="internal",
                             severity="high", plan="bug", occurrences=3, last_at=T0, estimate=1234.4, limits=LIMITS)
    assert message.subject == subject and message.level == "error" and message.kind == f"group_{kind}"
    assert message.group_id == 42 and message.execution_id is None
    assert message.fields["signal"] == kind and message.fields["message"] == "'sku'"
    assert ("rate" in message.fields) == (kind == SPIKE)
    if kind == SPIKE:
        assert message.fields["rate"] == "about 1,234 in 300 s (threshold 100)"
