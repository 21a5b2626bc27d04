"""The breaker's transitions as tables of (state, config, now_s) -> expected state: no clock, no sleeping."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from workers.breakers import policy
from workers.breakers.policy import BreakerConfig, BreakerState, Permit, Transition

CFG = BreakerConfig(mode="count", failure_threshold=3, window_s=60, recovery_timeout_s=30, half_open_max_calls=2,
                    success_threshold=2)
CLOSED = BreakerState()
OPEN = BreakerState(state="open", opened_at=1000.0)
HALF = BreakerState(state="half_open", opened_at=1000.0, half_open_calls=1, probed_at=1030.0)
FORCED = BreakerState(state="forced_open", opened_at=1000.0)


def closed_with(*failures: float) -> BreakerState:
    return BreakerState(failures=failures)


def half_open(calls: int, probed_at: float = 1030.0, successes: int = 0) -> BreakerState:
    return BreakerState(state="half_open", opened_at=1000.0, half_open_calls=calls, successes=successes,
                        probed_at=probed_at)


@pytest.mark.parametrize("state, now_s, expected_state, permit, transition", [
    pytest.param(CLOSED, 0.0, CLOSED, Permit(True), None, id="closed-allows"),
    pytest.param(closed_with(1.0, 2.0), 5.0, closed_with(1.0, 2.0), Permit(True), None,
                 id="closed-with-failures-allows"),
    pytest.param(OPEN, 1000.0, OPEN, Permit(False, 1030.0), None, id="open-refuses-at-opening"),
    pytest.param(OPEN, 1029.999, OPEN, Permit(False, 1030.0), None, id="open-refuses-just-before-timeout"),
    pytest.param(OPEN, 1030.0, HALF, Permit(True, probe=True),
                 Transition("open", "half_open", "recovery timeout of 30s elapsed"), id="open-half-opens-at-timeout"),
    pytest.param(BreakerState(state="open", opened_at=1000.0, half_open_calls=5, successes=7), 2000.0,
                 half_open(1, probed_at=2000.0),
                 Permit(True, probe=True), Transition("open", "half_open", "recovery timeout of 30s elapsed"),
                 id="half-open-starts-with-fresh-counts"),
    pytest.param(HALF, 1031.0, half_open(2, probed_at=1031.0), Permit(True, probe=True), None,
                 id="half-open-second-probe-within-limit"),
    pytest.param(half_open(2), 1031.0, half_open(2), Permit(False, 1060.0), None,
                 id="half-open-refuses-beyond-limit-until-lease-ends"),
    pytest.param(half_open(2), 1059.999, half_open(2), Permit(False, 1060.0), None, id="lease-not-yet-over"),
    pytest.param(half_open(2, successes=1), 1060.0, half_open(1, probed_at=1060.0, successes=1),
                 Permit(True, probe=True),
                 None, id="lost-probes-slots-reclaimed-after-lease"),
    pytest.param(FORCED, 10**9, FORCED, Permit(False), None, id="forced-open-refuses-forever"),
])
def test_before_call(state, now_s, expected_state, permit, transition):
    assert policy.before_call(state, CFG, now_s) == (expected_state, permit, transition)


@pytest.mark.parametrize("state, now_s, probe, expected", [
    pytest.param(CLOSED, 100.0, False, (closed_with(100.0), None), id="first-failure-counted"),
    pytest.param(closed_with(100.0), 110.0, False, (closed_with(100.0, 110.0), None), id="second-failure-counted"),
    pytest.param(closed_with(100.0, 110.0), 120.0, False,
                 (BreakerState(state="open", opened_at=120.0), Transition("closed", "open", "3 failures within 60s")),
                 id="threshold-exactly-reached-opens"),
    pytest.param(closed_with(100.0, 110.0), 160.0, False, (closed_with(110.0, 160.0), None),
                 id="failure-exactly-window-old-dropped"),
    pytest.param(closed_with(100.0, 110.0), 159.9, False,
                 (BreakerState(state="open", opened_at=159.9), Transition("closed", "open", "3 failures within 60s")),
                 id="failures-just-inside-window-open"),
    pytest.param(closed_with(1.0, 2.0), 500.0, False, (closed_with(500.0), None), id="window-expired-all-dropped"),
    pytest.param(closed_with(100.0), 110.0, True, (closed_with(100.0, 110.0), None),
                 id="late-probe-failure-when-closed-counts"),
    pytest.param(HALF, 1040.0, True,
                 (BreakerState(state="open", opened_at=1040.0), Transition("half_open", "open", "probe failed")),
                 id="probe-failure-reopens-with-new-opened-at"),
    pytest.param(HALF, 1040.0, False, (HALF, None), id="stale-failure-while-half-open-ignored"),
    pytest.param(OPEN, 1010.0, False, (OPEN, None), id="stale-failure-while-open-ignored"),
    pytest.param(OPEN, 1010.0, True, (OPEN, None), id="late-probe-failure-while-open-ignored"),
    pytest.param(FORCED, 1010.0, False, (FORCED, None), id="failure-while-forced-open-ignored"),
])
def test_on_failure(state, now_s, probe, expected):
    assert policy.on_failure(state, CFG, now_s, probe=probe) == expected


@pytest.mark.parametrize("state, config, probe, expected", [
    pytest.param(closed_with(100.0, 110.0), CFG, False, (closed_with(100.0, 110.0), None),
                 id="closed-success-keeps-failures"),
    pytest.param(HALF, CFG, True, (half_open(0, successes=1), None), id="first-of-two-probe-successes-frees-slot"),
    pytest.param(half_open(1, successes=1), CFG, True,
                 (CLOSED, Transition("half_open", "closed", "2 probe successes")), id="success-threshold-closes"),
    pytest.param(HALF, CFG.model_copy(update={"success_threshold": 1}), True,
                 (CLOSED, Transition("half_open", "closed", "1 probe success")), id="single-success-closes"),
    pytest.param(HALF, CFG, False, (HALF, None), id="stale-success-does-not-close-half-open"),
    pytest.param(OPEN, CFG, False, (OPEN, None), id="stale-success-does-not-close-open"),
    pytest.param(OPEN, CFG, True, (OPEN, None), id="late-probe-success-does-not-close-reopened"),
    pytest.param(FORCED, CFG, True, (FORCED, None), id="success-does-not-close-forced-open"),
])
def test_on_success(state, config, probe, expected):
    assert policy.on_success(state, config, 1040.0, probe=probe) == expected


@pytest.mark.parametrize("state, probe, expected", [
    pytest.param(HALF, True, half_open(0), id="probe-gives-slot-back"),
    pytest.param(half_open(0), True, half_open(0), id="never-below-zero"),
    pytest.param(HALF, False, HALF, id="non-probe-holds-no-slot"),
    pytest.param(OPEN, True, OPEN, id="open-unchanged"),
    pytest.param(closed_with(5.0), False, closed_with(5.0), id="closed-unchanged"),
])
def test_release(state, probe, expected):
    assert policy.release(state, probe=probe) == (expected, None)


def test_sequential_probes_reach_a_success_threshold_above_the_concurrency_limit():
    config = CFG.model_copy(update={"half_open_max_calls": 1, "success_threshold": 3})
    state, permit, _ = policy.before_call(OPEN, config, 1030.0)
    for n in range(1, 3):
        state, _ = policy.on_success(state, config, 1030.0 + n, probe=permit.probe)
        assert (state.state, state.successes, state.half_open_calls) == ("half_open", n, 0)
        state, permit, _ = policy.before_call(state, config, 1030.0 + n)
        assert permit == Permit(True, probe=True)
    assert policy.on_success(state, config, 1040.0, probe=True) == (CLOSED,
                                                                    Transition("half_open", "closed",
                                                                               "3 probe successes"))


@pytest.mark.parametrize("state, expected", [
    pytest.param(CLOSED, (FORCED, Transition("closed", "forced_open", "forced open")), id="from-closed"),
    pytest.param(HALF, (FORCED, Transition("half_open", "forced_open", "forced open")), id="from-half-open"),
    pytest.param(BreakerState(state="forced_open", opened_at=5.0),
                 (BreakerState(state="forced_open", opened_at=5.0), None),
                 id="already-forced-keeps-its-time"),
])
def test_force_open(state, expected):
    assert policy.force_open(state, 1000.0) == expected


@pytest.mark.parametrize("state, transition", [
    pytest.param(FORCED, Transition("forced_open", "closed", "closed by hand"), id="forced"),
    pytest.param(OPEN, Transition("open", "closed", "closed by hand"), id="open"),
    pytest.param(closed_with(1.0, 2.0), None, id="closed-failures-cleared-no-transition"),
])
def test_close(state, transition):
    assert policy.close(state) == (CLOSED, transition)


@pytest.mark.parametrize("state, now_s, effective, retry_at_s", [
    pytest.param(CLOSED, 0.0, "closed", None, id="closed"),
    pytest.param(OPEN, 1029.0, "open", 1030.0, id="open-before-timeout"),
    pytest.param(OPEN, 1030.0, "half_open", 1030.0, id="open-timed-out-shows-half-open"),
    pytest.param(HALF, 5000.0, "half_open", 1060.0, id="half-open-lease-end"),
    pytest.param(BreakerState(state="half_open"), 5000.0, "half_open", None, id="half-open-never-probed"),
    pytest.param(FORCED, 5000.0, "forced_open", None, id="forced-never-times-out"),
])
def test_effective_state_and_retry_at(state, now_s, effective, retry_at_s):
    assert policy.effective_state(state, CFG, now_s) == effective
    assert policy.retry_at_s(state, CFG) == retry_at_s


def test_current_drops_expired_failures_and_shows_recovered_open_half_open():
    assert policy.current(closed_with(10.0, 100.0), CFG, 100.0) == closed_with(100.0)
    assert policy.current(OPEN, CFG, 1031.0) == BreakerState(state="half_open", opened_at=1000.0)


@pytest.mark.parametrize("state", [
    CLOSED, closed_with(1.5, 2.25), OPEN, HALF, FORCED,
    half_open(3, successes=2),
])
def test_to_dict_from_dict_round_trip_through_json(state):
    assert BreakerState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_from_empty_dict_is_closed():
    assert BreakerState.from_dict({}) == CLOSED


def test_config_defaults():
    assert BreakerConfig() == BreakerConfig(
        mode="rate", failure_rate_threshold=80, minimum_calls=20, window_calls=40, failure_threshold=5, window_s=60,
        recovery_timeout_s=10, half_open_max_calls=1, success_threshold=1, release_per_s=20, release_window_max_s=10)


@pytest.mark.parametrize("field, value", [
    ("failure_threshold", 0), ("window_s", 0), ("window_s", -1), ("recovery_timeout_s", 0),
    ("half_open_max_calls", 0), ("success_threshold", 0), ("failure_threshold", "many"), ("unknown_field", 1),
    ("mode", "consecutive"), ("failure_rate_threshold", 0), ("failure_rate_threshold", 101), ("minimum_calls", 0),
    ("window_calls", 0), ("release_per_s", 0), ("release_window_max_s", -1),
])
def test_config_rejects_invalid_values(field, value):
    with pytest.raises(ValidationError, match=field):
        BreakerConfig(**{field: value})


def test_config_is_frozen():
    with pytest.raises(ValidationError):
        CFG.failure_threshold = 10
