"""Retention decisions (pure): which registered archives stay and which go."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workers.maintenance.backup.retention import Candidate, Policy, decide


def arc(moment: str, good: bool = True) -> Candidate:
    """An archive made at `moment` (UTC, e.g. '11-29T10'; 2026), named after it; good: verified ok."""
    return Candidate(name=moment, created_at=datetime.fromisoformat(f"2026-{moment}:00+00:00"), good=good)


def bad(moment: str) -> Candidate:
    return arc(moment, good=False)


def week(first_day: int, days: int) -> list[Candidate]:
    """Two archives a day (02:00 and 14:00) in November 2026 from `first_day`."""
    return [arc(f"11-{day:02d}T{hour}") for day in range(first_day, first_day + days) for hour in ("02", "14")]


CASES = [
    ("nothing registered", [], Policy(keep_last=3), set()),
    ("keep_last keeps the newest", [arc("11-01T10"), arc("11-02T10"), arc("11-03T10"), arc("11-04T10")],
     Policy(keep_last=2), {"11-04T10", "11-03T10"}),
    ("keep_last counts failed archives too", [arc("11-01T10"), bad("11-02T10"), arc("11-03T10")],
     Policy(keep_last=2), {"11-03T10", "11-02T10"}),
    ("the newest good archive stays when newer ones failed",
     [arc("11-01T10"), arc("11-02T10"), bad("11-03T10"), bad("11-04T10")], Policy(keep_last=2),
     {"11-04T10", "11-03T10", "11-02T10"}),
    ("daily: the newest good archive of each of the newest days", week(1, 5), Policy(keep_last=1, keep_daily=3),
     {"11-05T14", "11-04T14", "11-03T14"}),
    ("daily: a failed archive does not hold its day's place",
     [arc("11-01T02"), arc("11-02T02"), bad("11-02T14"), arc("11-03T02")], Policy(keep_last=1, keep_daily=2),
     {"11-03T02", "11-02T02"}),
    ("daily: days without a good archive are skipped, not counted",
     [arc("11-01T02"), arc("11-02T02"), bad("11-05T02"), bad("11-06T02")], Policy(keep_last=1, keep_daily=2),
     {"11-06T02", "11-02T02", "11-01T02"}),
    ("weekly: ISO weeks start on Monday", [arc("11-15T10"), arc("11-16T10"), arc("11-22T10"), arc("11-23T10")],
     Policy(keep_last=1, keep_weekly=3), {"11-23T10", "11-22T10", "11-15T10"}),
    ("monthly: the newest of each month", [arc("09-30T10"), arc("10-01T10"), arc("10-31T23"), arc("11-01T00")],
     Policy(keep_last=1, keep_monthly=2), {"11-01T00", "10-31T23"}),
    ("the rules add up", week(1, 14), Policy(keep_last=2, keep_daily=2, keep_weekly=2, keep_monthly=1),
     {"11-14T14", "11-14T02", "11-13T14", "11-08T14"}),
    ("periods are UTC days", [Candidate("nov-1-in-new-york", datetime.fromisoformat("2026-11-01T22:00:00-05:00"), True),
                              Candidate("nov-2", datetime(2026, 11, 2, 1, tzinfo=UTC), True)],
     Policy(keep_last=1, keep_daily=2), {"nov-1-in-new-york"}),
    ("naive times are UTC (SQLite)", [Candidate("a", datetime(2026, 11, 1, 10), True),
                                      Candidate("b", datetime(2026, 11, 1, 12, tzinfo=UTC), True)],
     Policy(keep_last=1, keep_daily=5), {"b"}),
]


@pytest.mark.parametrize(("candidates", "policy", "kept"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_keeps_exactly(candidates, policy, kept):
    decision = decide(candidates, policy)
    assert set(decision.keep) == kept
    assert set(decision.delete) == {c.name for c in candidates} - kept


def test_says_why_each_archive_stays_and_deletes_newest_first():
    decision = decide([arc("10-20T10"), arc("11-01T10"), arc("11-02T10"), bad("11-03T10")],
                      Policy(keep_last=1, keep_daily=1, keep_monthly=2))
    assert decision.keep == {"11-03T10": ("last",), "11-02T10": ("newest good", "daily", "monthly"),
                             "10-20T10": ("monthly",)}
    assert decision.delete == ("11-01T10",)


def test_the_order_given_does_not_matter():
    archives = week(1, 10)
    policy = Policy(keep_last=2, keep_daily=4, keep_weekly=2)
    assert decide(archives, policy) == decide(list(reversed(archives)), policy)
