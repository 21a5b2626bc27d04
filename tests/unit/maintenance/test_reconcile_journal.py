"""The reconciliation log's pure parts: stored values, a check's tally, the run's counts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from workers.cli.reconcile import remaining
from workers.maintenance.reconcile import journal

AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("value, stored", [
    (Decimal("5.00"), "5.00"),
    (datetime(2026, 3, 1, 12, 30, tzinfo=UTC), "2026-03-01T12:30:00+00:00"),
    (date(2026, 3, 1), "2026-03-01"),
    (b"\x00\xff", "base64:AP8="),
    (UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
    (float("nan"), "nan"),
    ((1, "a", None, True), [1, "a", None, True]),
])
def test_row_values_become_json(value, stored):
    assert journal.jsonable(value) == stored


def test_entries_are_masked():
    entry = journal.entry("users", "id=1", journal.REPORTED, at=AT, run_id=None,
                          before={"id": 1, "password": "hunter2", "note": "token=abc123def456"},
                          detail="postgresql://shop:s3cret@db/shop unreachable")
    assert entry.before["password"] == "***" and "abc123def456" not in entry.before["note"]
    assert "s3cret" not in entry.detail and entry.after is None


def test_a_tally_and_the_counts_of_a_run():
    fixed, reported = journal.Tally("negative-stock"), journal.Tally("orphans", truncated=True)
    fixed.add(journal.FIXED)
    fixed.add(journal.FIXED)
    reported.add(journal.REPORTED)
    failed = journal.Tally("broken", error="environment variable X (database_url_env) is not set")
    assert (fixed.found, fixed.unfixed, fixed.to_alert) == (2, 0, False)
    assert (reported.unfixed, reported.to_alert) == (1, True)
    assert fixed.describe() == "negative-stock: 2 found, 2 fixed"
    assert reported.describe() == "orphans: 1 found (more beyond the per-run maximum), 1 reported"
    assert failed.describe() == "broken: failed: environment variable X (database_url_env) is not set"
    counts = journal.counts([fixed, reported, failed])
    assert {k: counts[k] for k in ("checks", "found", "fixed", "reported", "truncated", "errors")} == {
        "checks": 3, "found": 3, "fixed": 2, "reported": 1, "truncated": 1, "errors": 1}
    assert counts["negative-stock.fixed"] == 2 and counts["orphans.truncated"] == 1 and counts["broken.errors"] == 1
    assert "negative-stock.reported" not in counts and counts["broken.found"] == 0


@pytest.mark.parametrize("counts, left", [
    ({"found": 0, "fixed": 0}, False),
    ({"found": 2, "fixed": 2}, False),
    ({"found": 2, "fixed": 1}, True),
    ({"found": 1, "fixed": 1, "truncated": 1}, True),
    ({}, False),
])
def test_whether_a_run_left_discrepancies(counts, left):
    assert remaining(counts) is left
