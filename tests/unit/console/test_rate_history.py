"""Hourly error rates from health snapshots (the overview's chart), bucketed without the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workers.maintenance.health.history import bucket_rates

FIRST = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return FIRST + timedelta(hours=hours)


def test_rates_are_averaged_per_hour_and_category_and_empty_hours_are_gaps():
    samples = [(at(0.1), {"network": 2.0}), (at(0.5), {"network": 4.0, "auth": 1.0}),
               (at(2.2), {}), (at(2.9), {"auth": 3.0})]
    history = bucket_rates(samples, first=FIRST, hours=4)
    assert history.starts == [at(h) for h in range(4)]
    assert history.per_category == {"auth": [0.5, None, 1.5, None], "network": [3.0, None, 0.0, None]}
    assert not history.empty


def test_samples_outside_the_window_and_junk_values_are_ignored():
    samples = [(at(-0.5), {"network": 9.0}), (at(5), {"network": 9.0}), (at(0), None),
               (at(0), {"network": "lots"}), (datetime(2026, 12, 7, 1, 30), {"x": 1})]  # naive: taken as UTC
    history = bucket_rates(samples, first=FIRST, hours=2)
    assert history.per_category == {"x": [0.0, 1.0]}


def test_no_snapshots_is_an_empty_history():
    assert bucket_rates([], first=FIRST, hours=24).empty
