"""An execution's history as the console draws it (pure): its plan's steps, and its attempts in order, each with
the wait before it, its outcome and error, and the breaker deferrals of that attempt (from the audit trail)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workers.clock import as_utc

DEFERRED = "deferred"  # the audit action of an attempt held back by an open breaker (RecoveryService)


@dataclass(frozen=True)
class Deferral:
    at: datetime
    reason: str | None


@dataclass(frozen=True)
class Entry:
    attempt_id: int
    run: int
    step: int  # 1-based
    step_kind: str
    number: int  # 1-based within its step
    state: str
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime | None
    wait_s: float | None  # from the previous attempt's end (or the execution's start) to this one's due time
    ran_s: float | None
    outcome: str | None
    error: str | None
    deferrals: tuple[Deferral, ...] = field(default=())


@dataclass(frozen=True)
class Step:
    number: int  # 1-based
    kind: str
    summary: str
    current: bool


def entries(attempts: list[Any], audit: list[Any], *, started_at: datetime) -> list[Entry]:
    """The attempts (in id order) with their waits and deferrals. `audit`: the execution's audit rows."""
    deferred: dict[int, list[Deferral]] = {}
    for row in audit:
        if row.action == DEFERRED and row.attempt_id is not None:
            deferred.setdefault(row.attempt_id, []).append(Deferral(row.at, row.reason))
    shown: list[Entry] = []
    previous_end: datetime | None = started_at
    for attempt in attempts:
        wait_s = _seconds(previous_end, attempt.scheduled_for)
        shown.append(Entry(attempt.id, attempt.run, attempt.step_index + 1, attempt.step_kind, attempt.number,
                           attempt.state, attempt.scheduled_for, attempt.claimed_at, attempt.finished_at,
                           None if wait_s is None else max(0.0, wait_s),
                           _seconds(attempt.claimed_at, attempt.finished_at), attempt.outcome, attempt.error,
                           tuple(deferred.get(attempt.id, ()))))
        previous_end = attempt.finished_at or previous_end
    return shown


def steps(plan: dict[str, Any] | None, current_index: int) -> list[Step]:
    """The plan's steps as stored with the execution, the current one marked."""
    listed = (plan or {}).get("steps") or []
    return [Step(i + 1, str(spec.get("kind", "?")), _summary(spec), i == current_index)
            for i, spec in enumerate(listed) if isinstance(spec, dict)]


def _summary(spec: dict[str, Any]) -> str:
    """A step's settings in a few words: `up to 5 attempts, 1 s doubling to 300 s` (numbers and names only)."""
    words = []
    attempts = spec.get("max_attempts")
    if isinstance(attempts, int) and attempts > 1:
        first, rate, most = (_number(spec.get(key), default) for key, default in
                             (("initial_delay_s", 1.0), ("backoff_rate", 2.0), ("max_delay_s", 300.0)))
        words.append(f"up to {attempts} attempts, waits {first:g} s ×{rate:g} up to {most:g} s")
    for key in ("name", "channel", "level", "on_breaker_open"):
        value = spec.get(key)
        if isinstance(value, str):
            words.append(f"{key.replace('_', ' ')} {value}")
    target = spec.get("target")
    if isinstance(target, dict) and isinstance(target.get("kind"), str):
        words.append(f"its own {target['kind']} target")
    return ", ".join(words)


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (as_utc(end) - as_utc(start)).total_seconds()
