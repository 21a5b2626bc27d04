"""The states of executions and attempts, and which are final."""

from __future__ import annotations

# Execution: pending (created, nothing tried yet) -> running (an attempt in flight) <-> waiting
# (the next attempt is scheduled) -> succeeded | failed | dead | cancelled.
PENDING, RUNNING, WAITING = "pending", "running", "waiting"
SUCCEEDED, FAILED, DEAD, CANCELLED = "succeeded", "failed", "dead", "cancelled"
EXECUTION_STATES = (PENDING, RUNNING, WAITING, SUCCEEDED, FAILED, DEAD, CANCELLED)
FINISHED = frozenset({SUCCEEDED, FAILED, DEAD, CANCELLED})

# Attempt: scheduled -> running (claimed once) -> succeeded | failed | timed_out; or cancelled.
SCHEDULED = "scheduled"
TIMED_OUT = "timed_out"
OPEN_ATTEMPT_STATES = (SCHEDULED, RUNNING)


def attempt_state_for(outcome: str) -> str:
    return {"success": SUCCEEDED, "timeout": TIMED_OUT}.get(outcome, FAILED)
