"""The batch loop: stops on a short batch or at the deadline, pauses between batches, reports progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.clock import ManualClock
from workers.maintenance.cleanup_batches import BatchDeleter
from workers.maintenance.job import JobContext

START = datetime(2026, 1, 1, tzinfo=UTC)


class Table:
    """A fake target: `rows` rows to delete; every batch takes `batch_s` of the fake clock."""

    def __init__(self, rows: int, clock: ManualClock, batch_s: float = 1.0, refused: int = 0):
        self.rows, self.clock, self.batch_s, self.refused = rows, clock, batch_s, refused
        self.calls = 0

    def __call__(self, limit: int) -> tuple[int, int]:
        self.calls += 1
        self.clock.now += timedelta(seconds=self.batch_s)
        selected = min(limit, self.rows)
        deleted = max(0, selected - self.refused)
        self.rows -= deleted
        return selected, deleted


def deleter(clock: ManualClock, *, batch_size: int = 10, budget_s: float = 100, total: int = 0):
    progress, pauses = [], []
    ctx = JobContext(settings=None, sessions=None, clock=clock, on_progress=lambda *a: progress.append(a))
    loop = BatchDeleter(ctx, batch_size=batch_size, pause_s=0.05, deadline=START + timedelta(seconds=budget_s),
                        total=total, sleep=pauses.append)
    return loop, progress, pauses


@pytest.mark.parametrize("rows, batches", [(0, 0), (1, 1), (9, 1), (10, 1), (25, 3), (30, 3)])
def test_drains_in_batches_until_a_short_or_empty_one(rows, batches):
    clock = ManualClock(START)
    loop, progress, pauses = deleter(clock, total=rows)
    table = Table(rows, clock)
    assert loop.drain("alerts", table) is True
    assert table.rows == 0 and loop.batches == batches and loop.deleted["alerts"] == rows
    assert len(pauses) == batches and set(pauses) <= {0.05}
    assert [p[0] for p in progress] == [min(rows, 10 * (n + 1)) for n in range(batches)]
    assert all(total == rows and label == "alerts" for _, total, label in progress)


def test_stops_at_the_deadline_and_says_so():
    clock = ManualClock(START)
    loop, _, _ = deleter(clock, budget_s=3.5)
    table = Table(100, clock)
    assert loop.drain("audit", table) is False
    assert table.calls == 4 and loop.deleted["audit"] == 40
    assert loop.drain("notifications", Table(5, clock)) is False  # past the deadline: not even one batch
    assert "notifications" not in loop.deleted


def test_counts_across_kinds_and_never_reports_more_done_than_total():
    clock = ManualClock(START)
    loop, progress, _ = deleter(clock, total=5)  # rows arrived after counting
    loop.drain("alerts", Table(3, clock))
    loop.drain("health_snapshots", Table(4, clock))
    assert dict(loop.deleted) == {"alerts": 3, "health_snapshots": 4} and loop.batches == 2
    assert progress[-1] == (7, 7, "health_snapshots")


def test_rows_selected_but_left_alone_are_not_counted():
    clock = ManualClock(START)
    loop, _, _ = deleter(clock)
    loop.drain("executions", Table(4, clock, refused=1))  # one changed between selection and delete
    assert loop.deleted["executions"] == 3
