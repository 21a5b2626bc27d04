"""The failure-rate breaker (mode: rate) and the release of deferred attempts, as pure functions."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from workers.breakers import policy
from workers.breakers.policy import BreakerConfig, BreakerState, Transition

RATE = BreakerConfig(mode="rate", failure_rate_threshold=50, minimum_calls=4, window_calls=6, window_s=60,
                     recovery_timeout_s=30)


def calls(*outcomes: tuple[float, bool]) -> BreakerState:
    return BreakerState(calls=tuple(outcomes))


def run(config: BreakerConfig, outcomes: str, *, start_s: float = 100.0, step_s: float = 1.0,
        state: BreakerState | None = None) -> tuple[BreakerState, list[tuple[int, Transition]]]:
    """Feed outcomes ("F" failure, "S" success) one a `step_s` apart; the transitions with their call's index."""
    state = state or BreakerState()
    seen = []
    for n, outcome in enumerate(outcomes):
        now_s = start_s + n * step_s
        step = policy.on_failure if outcome == "F" else policy.on_success
        state, transition = step(state, config, now_s, probe=False)
        if transition:
            seen.append((n, transition))
    return state, seen


def test_rate_is_the_default_mode():
    assert BreakerConfig().mode == "rate"


def test_successes_without_a_failure_on_record_write_nothing():
    state, _ = run(RATE, "SSSSSS")
    assert state == BreakerState()
    stale = calls((10.0, True), (20.0, False))  # both out of the window by 100 s
    assert policy.on_success(stale, RATE, 100.0, probe=False) == (stale, None)


def test_a_success_counts_once_a_failure_is_on_record():
    state, _ = run(RATE, "FS")
    assert state == calls((100.0, True), (101.0, False))


def test_below_minimum_calls_never_opens_whatever_the_rate():
    state, seen = run(RATE, "FFF")
    assert seen == [] and state.state == "closed" and len(state.calls) == 3


def test_opens_when_minimum_calls_reached_at_the_threshold():
    state, seen = run(RATE, "FSFF")
    assert seen == [(3, Transition("closed", "open", "3 of the last 4 calls within 60s failed (75% >= 50%)"))]
    assert state == BreakerState(state="open", opened_at=103.0)


def test_exactly_at_the_threshold_opens():
    _, seen = run(RATE, "FSSF")
    assert [n for n, _ in seen] == [3]


def test_below_the_threshold_stays_closed():
    state, seen = run(RATE, "FSSSF")
    assert seen == [] and state.state == "closed" and len(state.calls) == 5


def test_only_the_latest_window_calls_count():
    # six successes fill the window once a failure is on record; the oldest ones drop out as calls come
    state, seen = run(RATE, "FSSSSSS")
    assert seen == [] and len(state.calls) == RATE.window_calls
    assert [failed for _, failed in state.calls] == [False] * 6
    state, seen = run(RATE, "FFF", start_s=107.0, state=state)
    assert [n for n, _ in seen] == [2]  # 3 of the last 6 failed: 50%


def test_calls_older_than_the_window_drop_out():
    old = calls((10.0, True), (11.0, True), (12.0, True))
    state, transition = policy.on_failure(old, RATE, 100.0, probe=False)
    assert transition is None and state == calls((100.0, True))
    assert policy.current(old, RATE, 71.0) == calls((12.0, True))


def test_the_failure_rate_is_judged_only_on_failures():
    # a success can only lower the rate: it never opens the breaker
    state = calls((100.0, True), (101.0, True), (102.0, True))
    new, transition = policy.on_success(state, RATE, 103.0, probe=False)
    assert transition is None and new.state == "closed" and len(new.calls) == 4


def test_open_and_half_open_are_as_in_count_mode():
    opened, _ = run(RATE, "FFFF")
    assert opened.state == "open"
    assert policy.on_success(opened, RATE, 110.0, probe=False) == (opened, None)
    half, permit, transition = policy.before_call(opened, RATE, 103.0 + 30)
    assert permit.probe and transition == Transition("open", "half_open", "recovery timeout of 30s elapsed")
    closed, transition = policy.on_success(half, RATE, 134.0, probe=True)
    assert closed == BreakerState() and transition == Transition("half_open", "closed", "1 probe success")
    reopened, transition = policy.on_failure(half, RATE, 134.0, probe=True)
    assert reopened.state == "open" and transition == Transition("half_open", "open", "probe failed")


def test_count_mode_ignores_successes_and_keeps_no_calls():
    count = RATE.model_copy(update={"mode": "count", "failure_threshold": 3})
    state, seen = run(count, "FSSSFSSSF")
    assert [n for n, _ in seen] == [8] and state.calls == ()


@pytest.mark.parametrize("state", [
    calls((1.5, True), (2.25, False)), BreakerState(failures=(1.0,), calls=((3.0, True),)),
])
def test_calls_round_trip_through_json(state):
    assert BreakerState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_a_count_mode_record_has_no_calls_key():
    assert "calls" not in BreakerState(failures=(1.0,)).to_dict()


def test_window_calls_below_minimum_calls_is_refused():
    with pytest.raises(ValidationError, match="window_calls"):
        BreakerConfig(minimum_calls=10, window_calls=5)


def flaky_run(config: BreakerConfig, seed: int, *, failure_rate: float, calls_n: int) -> bool:
    """Does `calls_n` calls failing at random at `failure_rate`, 10 a second, open the breaker?"""
    rng, state = random.Random(seed), BreakerState()
    for n in range(calls_n):
        step = policy.on_failure if rng.random() < failure_rate else policy.on_success
        state, transition = step(state, config, 1000.0 + n / 10, probe=False)
        if transition:
            return True
    return False


def test_defaults_ride_out_a_partner_failing_45_percent_at_random():
    opened = sum(flaky_run(BreakerConfig(), seed, failure_rate=0.45, calls_n=600) for seed in range(200))
    assert opened <= 4, f"the default breaker opened in {opened} of 200 runs of 600 flaky calls"


def test_defaults_open_within_40_calls_of_an_outage_after_flaky_traffic():
    for seed in range(50):
        rng, state = random.Random(seed), BreakerState()
        for n in range(300):
            step = policy.on_failure if rng.random() < 0.45 else policy.on_success
            state, _ = step(state, BreakerConfig(), 1000.0 + n / 10, probe=False)
        if state.state != "closed":
            continue
        for n in range(1, 41):
            state, transition = policy.on_failure(state, BreakerConfig(), 1030.0 + n / 10, probe=False)
            if transition:
                break
        assert state.state == "open", f"seed {seed}: still closed after 40 failures in a row"


def test_the_count_breaker_trips_on_the_same_flakiness():
    count = BreakerConfig(mode="count", failure_threshold=5, window_s=60)
    assert all(flaky_run(count, seed, failure_rate=0.45, calls_n=100) for seed in range(20))


# --- release of the attempts deferred behind a breaker that closed ----------------------------------------------

@pytest.mark.parametrize("waiting, per_s, max_s, expected_s", [
    (0, 20, 10, 0.0), (1, 20, 10, 0.05), (100, 20, 10, 5.0), (161, 20, 10, 8.05), (1000, 20, 10, 10.0),
    (50, 20, 0, 0.0),
])
def test_release_window_grows_with_the_waiting_up_to_its_maximum(waiting, per_s, max_s, expected_s):
    config = BreakerConfig(release_per_s=per_s, release_window_max_s=max_s)
    assert policy.release_window_s(waiting, config) == pytest.approx(expected_s)


def test_release_offsets_one_per_slice_jittered():
    config = BreakerConfig(release_per_s=10, release_window_max_s=10)
    offsets = policy.release_offsets(50, config, random.Random(7))
    assert len(offsets) == 50
    for n, offset in enumerate(offsets):
        assert n * 0.1 <= offset < (n + 1) * 0.1
    assert len({round(o % 0.1, 6) for o in offsets}) > 40  # jittered, not a fixed grid
    assert max(offsets) < 5.0


def test_release_offsets_at_once_when_no_window():
    assert policy.release_offsets(3, BreakerConfig(release_window_max_s=0), random.Random(1)) == [0.0, 0.0, 0.0]
    assert policy.release_offsets(0, BreakerConfig(), random.Random(1)) == []


def test_a_config_naming_failure_threshold_without_mode_stays_a_count_breaker():
    assert BreakerConfig(failure_threshold=3).mode == "count"
    assert BreakerConfig.model_validate({"failure_threshold": 3, "window_s": 60}).mode == "count"
    assert BreakerConfig(failure_threshold=3, mode="rate").mode == "rate"
    assert BreakerConfig(window_s=30).mode == "rate"


def test_failures_on_record_in_either_mode():
    assert policy.failures_on_record(BreakerState(failures=(1.0, 2.0))) == 2
    assert policy.failures_on_record(calls((1.0, True), (2.0, False), (3.0, True))) == 2
    assert policy.failures_on_record(BreakerState()) == 0


def test_describe_says_when_it_opens():
    assert policy.describe(BreakerConfig()) == ("opens at 80% failed of the last 40 calls (at least 20) in 60s, "
                                                "recovery 10s, 1 probe, closes after 1")
    assert policy.describe(BreakerConfig(failure_threshold=3)) == ("opens at 3 failures in 60s, recovery 10s, "
                                                                   "1 probe, closes after 1")
