"""An execution's attempts as the console's timeline: waits, run times, breaker deferrals, plan steps (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from workers.console.pages.timeline import entries, steps

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def attempt(id_, *, scheduled_s, claimed_s=None, finished_s=None, step_index=0, kind="retry", number=1,
            state="failed", outcome="retryable", error=None, run=1):
    def at(s):
        return None if s is None else T0 + timedelta(seconds=s)
    return SimpleNamespace(id=id_, run=run, step_index=step_index, step_kind=kind, number=number, state=state,
                           scheduled_for=at(scheduled_s), claimed_at=at(claimed_s), finished_at=at(finished_s),
                           outcome=outcome, error=error)


def audit(action, attempt_id, at_s, reason=None):
    return SimpleNamespace(action=action, attempt_id=attempt_id, at=T0 + timedelta(seconds=at_s), reason=reason)


def test_each_attempt_waits_from_the_end_of_the_one_before_and_shows_its_breaker_deferrals():
    shown = entries([attempt(1, scheduled_s=0, claimed_s=0, finished_s=2, error="503"),
                     attempt(2, scheduled_s=6, claimed_s=40, finished_s=41, number=2, state="succeeded",
                             outcome="success"),
                     attempt(3, scheduled_s=50, step_index=1, kind="notify", state="scheduled", outcome=None)],
                    [audit("deferred", 2, 6, "circuit breaker of partner is open; not counted as an attempt"),
                     audit("deferred", 2, 20), audit("retry_now", 2, 30), audit("deferred", None, 1)],
                    started_at=T0)
    assert [e.wait_s for e in shown] == [0.0, 4.0, 9.0]
    assert [e.ran_s for e in shown] == [2.0, 1.0, None]
    assert [len(e.deferrals) for e in shown] == [0, 2, 0]
    assert shown[1].deferrals[0].reason.startswith("circuit breaker of partner")
    assert (shown[2].step, shown[2].step_kind, shown[0].error) == (2, "notify", "503")


def test_an_attempt_due_before_the_previous_ended_waited_nothing():
    shown = entries([attempt(1, scheduled_s=10, finished_s=30), attempt(2, scheduled_s=20)], [], started_at=T0)
    assert [e.wait_s for e in shown] == [10.0, 0.0]


def test_plan_steps_with_the_current_one_marked_and_their_settings_in_words():
    plan = {"steps": [{"kind": "retry", "max_attempts": 5, "initial_delay_s": 1, "backoff_rate": 2, "max_delay_s": 60},
                      {"kind": "notify", "channel": "ops", "level": "warning"},
                      {"kind": "fallback", "target": {"kind": "http", "url": "https://x"}}, "junk"]}
    listed = steps(plan, 1)
    assert [(s.number, s.kind, s.current) for s in listed] == [(1, "retry", False), (2, "notify", True),
                                                               (3, "fallback", False)]
    assert listed[0].summary == "up to 5 attempts, waits 1 s ×2 up to 60 s"
    assert listed[1].summary == "channel ops, level warning" and listed[2].summary == "its own http target"
    assert steps(None, 0) == [] and steps({"steps": None}, 0) == []
