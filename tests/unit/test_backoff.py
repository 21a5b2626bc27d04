"""Unit tests for workers.backoff.backoff_delay_s."""

from __future__ import annotations

import math
import random

import pytest

from workers.backoff import backoff_delay_s

DRAWS = 2_000


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0), (6, 30.0), (7, 30.0), (50, 30.0)],
)
def test_no_jitter_doubles_until_capped(attempt, expected):
    assert backoff_delay_s(attempt, initial_s=0.5, max_s=30, jitter="none") == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"initial_s": 1, "rate": 3, "max_s": 100}, [1, 3, 9, 27, 81, 100, 100]),
        ({"initial_s": 2, "rate": 1, "max_s": 100}, [2, 2, 2, 2, 2, 2, 2]),
        ({"initial_s": 1, "rate": 1.5, "max_s": 5}, [1, 1.5, 2.25, 3.375, 5, 5, 5]),
        ({"initial_s": 0, "max_s": 10}, [0] * 7),
        ({"initial_s": 10, "max_s": 0}, [0] * 7),
        ({"initial_s": 60, "max_s": 30}, [30] * 7),
    ],
)
def test_no_jitter_sequences(kwargs, expected):
    got = [backoff_delay_s(n, jitter="none", **kwargs) for n in range(len(expected))]
    assert got == pytest.approx(expected)


def test_no_jitter_ignores_the_rng():
    class Exploding(random.Random):
        def uniform(self, a, b):
            raise AssertionError("no draw expected")

    assert backoff_delay_s(3, initial_s=1, max_s=60, jitter="none", rng=Exploding()) == 8


def test_full_jitter_is_the_default():
    seeded = backoff_delay_s(4, initial_s=1, max_s=60, rng=random.Random(7))
    assert seeded == backoff_delay_s(4, initial_s=1, max_s=60, jitter="full", rng=random.Random(7))


@pytest.mark.parametrize("attempt", [0, 2, 5, 10])
def test_full_jitter_within_zero_and_delay(attempt):
    rng = random.Random(1234)
    ceiling = backoff_delay_s(attempt, initial_s=0.5, max_s=30, jitter="none")
    draws = [backoff_delay_s(attempt, initial_s=0.5, max_s=30, jitter="full", rng=rng) for _ in range(DRAWS)]
    assert all(0 <= d <= ceiling for d in draws)
    # spread over the whole range, not stuck near one end
    assert min(draws) < ceiling * 0.05 and max(draws) > ceiling * 0.95
    assert sum(draws) / DRAWS == pytest.approx(ceiling / 2, rel=0.1)


@pytest.mark.parametrize("attempt", [0, 2, 5, 10])
def test_equal_jitter_within_half_and_delay(attempt):
    rng = random.Random(99)
    ceiling = backoff_delay_s(attempt, initial_s=0.5, max_s=30, jitter="none")
    draws = [backoff_delay_s(attempt, initial_s=0.5, max_s=30, jitter="equal", rng=rng) for _ in range(DRAWS)]
    assert all(ceiling / 2 <= d <= ceiling for d in draws)
    assert min(draws) < ceiling * 0.55 and max(draws) > ceiling * 0.95
    assert sum(draws) / DRAWS == pytest.approx(ceiling * 0.75, rel=0.1)


@pytest.mark.parametrize("jitter", ["full", "equal"])
def test_seeded_rng_is_reproducible(jitter):
    def run(seed):
        rng = random.Random(seed)
        return [backoff_delay_s(n, initial_s=1, max_s=60, jitter=jitter, rng=rng) for n in range(10)]

    assert run(5) == run(5)
    assert run(5) != run(6)


@pytest.mark.parametrize("jitter", ["full", "equal"])
def test_jitter_with_zero_delay_is_zero(jitter):
    assert backoff_delay_s(3, initial_s=0, max_s=10, jitter=jitter, rng=random.Random(0)) == 0


@pytest.mark.parametrize("jitter", ["full", "equal"])
def test_module_random_used_without_rng(jitter):
    delay = backoff_delay_s(3, initial_s=1, max_s=60, jitter=jitter)
    assert 0 <= delay <= 8


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempt": -1, "initial_s": 1, "max_s": 10},
        {"attempt": 0, "initial_s": -0.1, "max_s": 10},
        {"attempt": 0, "initial_s": 1, "max_s": -1},
        {"attempt": 0, "initial_s": 1, "max_s": 10, "rate": 0.5},
        {"attempt": 0, "initial_s": 1, "max_s": 10, "rate": 0},
        {"attempt": 0, "initial_s": 1, "max_s": 10, "rate": -2},
    ],
)
@pytest.mark.parametrize("jitter", ["none", "full", "equal"])
def test_invalid_arguments(kwargs, jitter):
    with pytest.raises(ValueError):
        backoff_delay_s(**kwargs, jitter=jitter)


@pytest.mark.parametrize("attempt", [64, 65, 1_000, 10**6, 10**18, 2**200])
@pytest.mark.parametrize("rate", [1.0, 2.0, 10.0])
def test_huge_attempts_do_not_overflow(attempt, rate):
    delay = backoff_delay_s(attempt, initial_s=0.5, rate=rate, max_s=300, jitter="none")
    assert math.isfinite(delay)
    assert delay == (0.5 if rate == 1.0 else 300)


@pytest.mark.parametrize("jitter", ["full", "equal"])
def test_huge_attempts_with_jitter(jitter):
    delay = backoff_delay_s(10**9, initial_s=1, max_s=300, jitter=jitter, rng=random.Random(3))
    assert 0 <= delay <= 300


@pytest.mark.parametrize(("rate", "initial_s"), [(1e3, 1), (10**6, 1)])
def test_large_rate_is_capped(rate, initial_s):
    assert backoff_delay_s(64, initial_s=initial_s, rate=rate, max_s=60, jitter="none") == 60


@pytest.mark.parametrize(("rate", "initial_s"), [(1e6, 1), (10**6, 0.5)])
def test_huge_rate_is_capped(rate, initial_s):
    assert backoff_delay_s(64, initial_s=initial_s, rate=rate, max_s=60, jitter="none") == 60
