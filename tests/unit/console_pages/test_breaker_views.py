"""The breaker rows operators see and the sentences an operator's breaker action answers with (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config.errors import InvalidTransition
from workers.breakers import Breakers, MemoryBreakerStore
from workers.breakers.operations import operate
from workers.breakers.policy import BreakerConfig, BreakerState
from workers.breakers.views import breaker_row

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = BreakerConfig(recovery_timeout_s=30)


def test_an_open_breaker_past_its_recovery_timeout_shows_half_open_with_its_probe_due():
    opened = BreakerState(state="open", opened_at=NOW.timestamp() - 60)
    row = breaker_row("partner", opened, CONFIG, NOW)
    assert (row["state"], row["stored_state"], row["probe_due"]) == ("half_open", "open", True)
    assert row["half_open_at"] == datetime.fromtimestamp(NOW.timestamp() - 30, UTC)
    assert row["opened_at"] == datetime.fromtimestamp(NOW.timestamp() - 60, UTC)
    assert "opens at" in row["settings"]


def test_a_recently_opened_breaker_says_when_it_half_opens():
    row = breaker_row("partner", BreakerState(state="open", opened_at=NOW.timestamp() - 10), CONFIG, NOW)
    assert (row["state"], row["probe_due"]) == ("open", False)
    assert row["half_open_at"] == datetime.fromtimestamp(NOW.timestamp() + 20, UTC)


def test_a_closed_breaker_counts_only_failures_in_its_window():
    count = BreakerConfig(mode="count", window_s=60)
    state = BreakerState(failures=(NOW.timestamp() - 120, NOW.timestamp() - 5))
    row = breaker_row("billing", state, count, NOW)
    assert (row["state"], row["failures"], row["half_open_at"]) == ("closed", 1, None)


def breakers() -> tuple[Breakers, list]:
    seen: list = []
    return Breakers(MemoryBreakerStore(), lambda _: CONFIG, clock=lambda: NOW,
                    on_transition=lambda service, t, actor: seen.append((service, t.to_state, actor))), seen


def test_open_close_and_reset_say_what_changed_and_report_the_transition_with_the_actor():
    shared, seen = breakers()
    opened = operate(shared, "billing", "open", actor="ui:alice")
    assert opened.changed and opened.describe() == "circuit breaker of billing: closed → forced_open (by ui:alice)"
    again = operate(shared, "billing", "open", actor="ui:alice")
    assert not again.changed and "already forced_open: nothing changed" in again.describe()
    reset = operate(shared, "billing", "reset", actor="ui:bob")
    assert reset.changed and "reset by ui:bob: it was forced_open" in reset.describe()
    assert reset.as_dict()["after"] == "closed"
    assert seen == [("billing", "forced_open", "ui:alice"), ("billing", "closed", "ui:bob")]


@pytest.mark.parametrize(("service", "action"), [("billing", "explode"), ("", "open"), ("x" * 257, "close")])
def test_unknown_actions_and_bad_service_names_are_refused(service, action):
    with pytest.raises(InvalidTransition):
        operate(breakers()[0], service, action, actor="ui:alice")
