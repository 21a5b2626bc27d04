"""What a health snapshot measures, and collecting it from the broker, the database and the breakers.

A source that cannot be read leaves its metrics None and names the problem in `problems`
(broker, database, breakers): a snapshot is taken whatever is down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from config.errors import ConfigError, StorageUnavailable
from config.settings import Settings
from workers.breakers import Breakers, breakers_from_settings
from workers.maintenance.health import queries
from workers.maintenance.health.queues import queue_depths
from workers.maintenance.stuck.detect import count_stuck
from workers.masking import mask_text
from workers.recovery.plans import builtin_plan_paths, load_plans
from workers.recovery.states import SUCCEEDED
from workers.storage.db import guarded_session

OPEN_STATES = ("open", "forced_open")
BROKER, DATABASE, BREAKERS = "broker", "database", "breakers"


@dataclass(frozen=True)
class Metrics:
    window_s: float
    queue_depths: dict[str, int | None] = field(default_factory=dict)  # None: the broker could not be read
    errors_in_window: dict[str, int] | None = None  # by category
    error_rate_per_min: dict[str, float] | None = None  # by category
    executions_finished: int | None = None  # tried recoveries that succeeded, failed or died within the window
    executions_succeeded: int | None = None
    recovery_success_rate: float | None = None  # None when none finished within the window
    open_breakers: dict[str, str] | None = None  # service -> open | forced_open
    stuck_executions: int | None = None
    dead_letters: int | None = None  # tried recoveries in state dead (queries.tried)
    last_good_backup_at: datetime | None = None  # None: no verified backup (or the database is unreachable)
    last_good_backup_age_h: float | None = None
    installation_age_h: float | None = None  # since the database was set up; None: not known
    database_size_bytes: int | None = None
    problems: dict[str, str] = field(default_factory=dict)  # source -> why it could not be read
    duration_ms: float | None = None  # how long collecting took

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.last_good_backup_at is not None:
            data["last_good_backup_at"] = self.last_good_backup_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        """Reads what to_dict wrote; keys it does not know (a newer writer's) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        if values.get("last_good_backup_at"):
            values["last_good_backup_at"] = datetime.fromisoformat(values["last_good_backup_at"])
        return cls(**values)


def collect(settings: Settings, sessions: sessionmaker[Session], *, now: datetime) -> Metrics:
    started = time.monotonic()
    problems: dict[str, str] = {}
    depths = queue_depths(settings.broker_url, timeout_s=settings.health.broker_timeout_s)
    if depths.problem:
        problems[BROKER] = depths.problem
    try:
        with guarded_session(sessions) as session:
            stored = from_database(session, settings, now)
    except StorageUnavailable as exc:
        problems[DATABASE] = first_line(mask_text(str(exc)))
        stored = {}
    try:
        stored["open_breakers"] = open_breakers(settings, sessions, now)
    except (StorageUnavailable, ConfigError) as exc:
        problems[BREAKERS] = f"breaker states unknown: {first_line(mask_text(str(exc)))}"
    return Metrics(window_s=settings.health.window_s, queue_depths=depths.depths, problems=problems,
                   duration_ms=round((time.monotonic() - started) * 1000, 1), **stored)


def from_database(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    window_s = settings.health.window_s
    since = queries.window_start(now, window_s)
    errors = queries.errors_by_category(session, since=since, now=now)
    finished = queries.finished_by_state(session, since=since)
    executions_finished, executions_succeeded = sum(finished.values()), finished.get(SUCCEEDED, 0)
    backup_at = queries.last_good_backup_at(session)
    installed_at = queries.installed_at(session)
    return {
        "errors_in_window": errors.by_category,
        "error_rate_per_min": {category: round(count * 60 / errors.span_s, 3)
                               for category, count in errors.by_category.items()},
        "executions_finished": executions_finished,
        "executions_succeeded": executions_succeeded,
        "recovery_success_rate": success_rate(executions_succeeded, executions_finished),
        "stuck_executions": count_stuck(session, settings.stuck, now),
        "dead_letters": queries.dead_letters(session),
        "last_good_backup_at": backup_at,
        "last_good_backup_age_h": None if backup_at is None else hours_since(backup_at, now),
        "installation_age_h": None if installed_at is None else hours_since(installed_at, now),
        "database_size_bytes": queries.database_size_bytes(session),
    }


def hours_since(moment: datetime, now: datetime) -> float:
    return round((now - moment).total_seconds() / 3600, 3)


def first_line(text: str) -> str:
    return (text.splitlines() or [""])[0]


def success_rate(succeeded: int, finished: int) -> float | None:
    return round(succeeded / finished, 4) if finished else None


def open_breakers(settings: Settings, sessions: sessionmaker[Session], now: datetime) -> dict[str, str]:
    """Breakers open or forced open as the next call would find them (an open one past its recovery timeout is
    half-open)."""
    states = breaker_states(reading_breakers(settings, sessions, clock=lambda: now))
    return {service: state for service, state in states.items() if state in OPEN_STATES}


def reading_breakers(settings: Settings, sessions: sessionmaker[Session], *, clock: Callable[[], datetime]) -> Breakers:
    """The breakers as the workers see them, for reading: each service's recovery timeout comes from the plans."""
    plan_set = load_plans([*builtin_plan_paths(), *settings.plans_files])
    return breakers_from_settings(settings, sessions, plan_set.breaker_config, clock=clock)


def breaker_states(breakers: Breakers) -> dict[str, str]:
    """Every stored breaker's state as the next call would find it."""
    return {service: state.state for service, state in breakers.snapshot().items()}
