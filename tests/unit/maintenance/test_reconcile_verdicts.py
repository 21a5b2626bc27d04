"""medic's own invariants as pure decisions (workers/maintenance/reconcile/verdicts.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workers.maintenance.reconcile.verdicts import claim_finding, execution_finding, orphaned_attempt

NOW = datetime(2026, 3, 1, tzinfo=UTC)
EARLIER = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize("state, running, scheduled, to_state, deferred", [
    ("pending", 0, 1, None, False),  # consistent: no finding
    ("waiting", 0, 1, None, False),
    ("running", 1, 0, None, False),
    ("succeeded", 0, 0, None, False),  # finished ones are the orphan check's
    ("waiting", 1, 0, "running", False),
    ("pending", 1, 0, "running", False),
    ("running", 0, 1, "waiting", False),
    ("waiting", 0, 0, None, True),  # stuck: the stuck job's
    ("running", 0, 0, None, True),
    ("pending", 0, 0, None, True),
    ("running", 1, 1, None, False),  # two open attempts: reported for an operator
    ("waiting", 0, 2, None, False),
])
def test_execution_against_its_open_attempts(state, running, scheduled, to_state, deferred):
    finding = execution_finding(state, running, scheduled)
    consistent = (state, running, scheduled) in {("pending", 0, 1), ("waiting", 0, 1), ("running", 1, 0),
                                                 ("succeeded", 0, 0)}
    assert (finding is None) == consistent
    if finding is not None:
        assert (finding.to_state, finding.deferred) == (to_state, deferred)
        assert finding.fixable == (to_state is not None)
        assert finding.problem.startswith(state)


@pytest.mark.parametrize("state, claimed_at, claimed_by, deadline_at, changes", [
    ("running", EARLIER, "worker:a:1", NOW, None),
    ("scheduled", None, None, None, None),
    ("succeeded", EARLIER, "worker:a:1", NOW, None),
    ("running", None, None, None, {"claimed_by": "reconciler", "claimed_at": NOW, "deadline_at": NOW}),
    ("running", EARLIER, None, None, {"claimed_by": "reconciler", "claimed_at": EARLIER, "deadline_at": NOW}),
    ("scheduled", EARLIER, None, None, {"claimed_by": None, "claimed_at": None, "deadline_at": None}),
    ("scheduled", None, "worker:a:1", None, {"claimed_by": None, "claimed_at": None, "deadline_at": None}),
    ("scheduled", None, None, NOW, {"claimed_by": None, "claimed_at": None, "deadline_at": None}),
])
def test_an_attempt_is_claimed_exactly_when_it_runs(state, claimed_at, claimed_by, deadline_at, changes):
    finding = claim_finding(state, claimed_at, claimed_by, deadline_at, now=NOW)
    assert (finding.changes if finding else None) == changes


@pytest.mark.parametrize("attempt_state, attempt_run, execution_state, execution_run, orphaned", [
    ("scheduled", 1, "succeeded", 1, True),
    ("running", 1, "cancelled", 1, True),
    ("scheduled", 1, "waiting", 2, True),
    ("scheduled", 2, "waiting", 2, False),
    ("running", 1, "running", 1, False),
    ("failed", 1, "succeeded", 1, False),
    ("cancelled", 1, "waiting", 2, False),
])
def test_open_attempts_an_execution_no_longer_owns(attempt_state, attempt_run, execution_state, execution_run,
                                                   orphaned):
    assert (orphaned_attempt(attempt_state, attempt_run, execution_state, execution_run) is not None) == orphaned
