"""The reconciliation log: each discrepancy a check found, what was done, the row before and after."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.jobs.reconcile import OWN_CHECKS
from workers.masking import mask_text, mask_value
from workers.storage.models import ReconciliationEntry

# What was done about one discrepancy.
FIXED = "fixed"
REPORTED = "reported"  # fixing is off: reported (and alerted), nothing changed
DRY_RUN = "dry_run"  # a dry run: would have been fixed or reported, nothing changed
FIX_FAILED = "fix_failed"  # the fix raised, or left the row still detected: rolled back
DEFERRED = "deferred"  # another job owns the remedy (the stuck job): reported only
ERROR = "error"  # the check itself failed (subject "check"); the other checks still ran
ACTIONS = (FIXED, REPORTED, DRY_RUN, FIX_FAILED, DEFERRED)
SUBJECT_MAX_CHARS = 512
DETAIL_MAX_CHARS = 4000


@dataclass
class Tally:
    """What one check did in one run."""

    check: str
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    truncated: bool = False  # more discrepancies than it handles per run: the rest waits for the next run
    error: str | None = None

    def add(self, action: str) -> None:
        self.done[action] += 1

    @property
    def found(self) -> int:
        return sum(self.done.values())

    @property
    def unfixed(self) -> int:
        """Discrepancies this run left as they were, the ones beyond the per-run maximum aside."""
        return self.found - self.done[FIXED]

    @property
    def to_alert(self) -> bool:
        """Discrepancies no job will fix: reported, failed to fix, or beyond the per-run maximum."""
        return bool(self.done[REPORTED] or self.done[FIX_FAILED] or self.truncated)

    def describe(self) -> str:
        if self.error:
            return f"{self.check}: failed: {self.error}"
        if not self.found:
            return f"{self.check}: nothing found"
        parts = [f"{n} {action.replace('_', ' ')}" for action, n in self.done.items() if n]
        more = " (more beyond the per-run maximum)" if self.truncated else ""
        return f"{self.check}: {self.found} found{more}, {', '.join(parts)}"


def counts(tallies: Iterable[Tally]) -> dict[str, int]:
    """Totals, and each check's numbers as `<check>.<what>` (read back by `medic reconcile list`)."""
    tallies = list(tallies)
    totals = {"checks": len(tallies), "found": sum(t.found for t in tallies),
              **{action: sum(t.done[action] for t in tallies) for action in ACTIONS},
              "truncated": sum(t.truncated for t in tallies), "errors": sum(t.error is not None for t in tallies)}
    for tally in tallies:
        totals[f"{tally.check}.found"] = tally.found
        totals.update({f"{tally.check}.{action}": n for action, n in tally.done.items() if n})
        if tally.truncated:
            totals[f"{tally.check}.truncated"] = 1
        if tally.error:
            totals[f"{tally.check}.errors"] = 1
    return totals


def entry(check: str, subject: str, action: str, *, at: datetime, run_id: int | None, before: Any = None,
          after: Any = None, detail: str | None = None) -> ReconciliationEntry:
    """A log row, masked: rows of an app's database may hold secrets."""
    return ReconciliationEntry(run_id=run_id, check_name=check, at=at, subject=mask_text(subject)[:SUBJECT_MAX_CHARS],
                               action=action, before=_stored(before), after=_stored(after),
                               detail=mask_text(detail)[:DETAIL_MAX_CHARS] if detail else None)


def _stored(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    return mask_value(jsonable(value if isinstance(value, dict) else {"value": value}))


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a database row's values: times as ISO-8601, decimals as text, bytes as base64."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN or infinity
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exactly as stored
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "base64:" + base64.b64encode(bytes(value)).decode()
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def history(session: Session, *, check: str | None = None, run_id: int | None = None,
            limit: int = 50) -> list[ReconciliationEntry]:
    """Newest first; check "medic" means all of medic's own checks."""
    query = select(ReconciliationEntry).order_by(ReconciliationEntry.id.desc()).limit(limit)
    if check == OWN_CHECKS:
        query = query.where(ReconciliationEntry.check_name.like(f"{OWN_CHECKS}:%"))
    elif check:
        query = query.where(ReconciliationEntry.check_name == check)
    if run_id is not None:
        query = query.where(ReconciliationEntry.run_id == run_id)
    return list(session.scalars(query))


def unfixed_action(dry_run: bool) -> str:
    """What a discrepancy that is not fixed is recorded as."""
    return DRY_RUN if dry_run else REPORTED
