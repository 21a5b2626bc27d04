"""medic's own invariants as pure decisions: given what is stored, what is wrong and what would fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workers.recovery.states import FINISHED, OPEN_ATTEMPT_STATES, PENDING, RUNNING, SCHEDULED, WAITING

# The name an attempt found running with no claimer is claimed in, so the invariant holds at once.
RECONCILER = "reconciler"
LIVE_STATES = (PENDING, RUNNING, WAITING)


@dataclass(frozen=True)
class Finding:
    problem: str  # one sentence for the log and the audit
    to_state: str | None = None  # an execution's state that fixes it; None: nothing to move
    changes: dict[str, Any] = field(default_factory=dict)  # an attempt's columns that fix it
    deferred: bool = False  # another job owns the remedy: report only

    @property
    def fixable(self) -> bool:
        return not self.deferred and (self.to_state is not None or bool(self.changes))


def execution_finding(state: str, running: int, scheduled: int) -> Finding | None:
    """A live execution against its open attempts of the current run (at most one: scheduled or running)."""
    if state not in LIVE_STATES:
        return None
    expected = (1, 0) if state == RUNNING else (0, 1)
    if (running, scheduled) == expected:
        return None
    if running + scheduled == 0:
        return Finding(f"{state} with no open attempt: stuck; left to the stuck job", deferred=True)
    if running + scheduled > 1:
        return Finding(f"{state} with {running + scheduled} open attempts ({running} running, {scheduled} scheduled); "
                       "an execution has at most one: left to an operator")
    if running:
        return Finding(f"{state}, but its attempt is running", to_state=RUNNING)
    return Finding("running, but its only open attempt is scheduled (not claimed)", to_state=WAITING)


def claim_finding(state: str, claimed_at: datetime | None, claimed_by: str | None, deadline_at: datetime | None, *,
                  now: datetime) -> Finding | None:
    """An attempt is claimed exactly when it runs: running has a claimer, scheduled has no claim fields."""
    if state == RUNNING and claimed_by is None:
        # Nobody will report its outcome: the claim is given up at once, and the recovery sweeper
        # times it out through the normal path (the plan then decides: retry or move on).
        return Finding("running but claimed by nobody; deadline set to now so the sweeper times it out",
                       changes={"claimed_by": RECONCILER, "claimed_at": claimed_at or now, "deadline_at": now})
    if state == SCHEDULED and (claimed_at or claimed_by or deadline_at):
        return Finding("scheduled but carries a claim; claim fields cleared so it can be claimed",
                       changes={"claimed_by": None, "claimed_at": None, "deadline_at": None})
    return None


def orphaned_attempt(attempt_state: str, attempt_run: int, execution_state: str, execution_run: int) -> str | None:
    """Why an open attempt no longer belongs to its execution (it is cancelled), or None."""
    if attempt_state not in OPEN_ATTEMPT_STATES:
        return None
    if execution_state in FINISHED:
        return f"{attempt_state} attempt of a {execution_state} execution"
    if attempt_run != execution_run:
        return f"{attempt_state} attempt of run {attempt_run}, the execution is on run {execution_run}"
    return None
