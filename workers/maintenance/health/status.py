"""The status a snapshot's metrics amount to, and why: a pure function of (metrics, thresholds).

Each metric past a threshold gives a reason at a level; the status is the worst level, healthy
when there is no reason. The alert rules (rules.py) fire on the same reasons.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from config.jobs.health import HealthSettings
from workers.maintenance.health.metrics import BREAKERS, BROKER, DATABASE, Metrics

HEALTHY, DEGRADED, UNHEALTHY, CRITICAL = "healthy", "degraded", "unhealthy", "critical"
STATUSES = (HEALTHY, DEGRADED, UNHEALTHY, CRITICAL)  # best first
# What an unreadable source does to the status: without the database medic does nothing.
PROBLEM_LEVELS = {DATABASE: CRITICAL, BROKER: UNHEALTHY, BREAKERS: DEGRADED}


@dataclass(frozen=True)
class Reason:
    metric: str
    value: Any
    threshold: Any
    level: str
    text: str
    subject: str | None = None  # which queue, category or service, when the metric has several

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Assessment:
    status: str
    reasons: list[Reason]


def evaluate(metrics: Metrics, limits: HealthSettings, *, backups_expected: bool) -> Assessment:
    reasons = [*_problems(metrics), *_queues(metrics, limits), *_error_rates(metrics, limits),
               *_recovery(metrics, limits), *_breakers(metrics, limits), *_counts(metrics, limits)]
    if backups_expected and DATABASE not in metrics.problems:
        reasons += _backup(metrics, limits)
    reasons.sort(key=lambda reason: -STATUSES.index(reason.level))  # worst first
    return Assessment(worst([r.level for r in reasons]), reasons)


def worst(levels: list[str]) -> str:
    return max(levels, key=STATUSES.index, default=HEALTHY)


def grade(value: float | None, degraded: float, unhealthy: float) -> tuple[str, float] | None:
    """(level, threshold passed) for a value that is bad when high; None when it is fine or unknown."""
    if value is None or value < degraded:
        return None
    return (UNHEALTHY, unhealthy) if value >= unhealthy else (DEGRADED, degraded)


def _problems(metrics: Metrics) -> list[Reason]:
    return [Reason(f"{source}_reachable", False, None, PROBLEM_LEVELS[source], text, subject=source)
            for source, text in sorted(metrics.problems.items())]


def _queues(metrics: Metrics, limits: HealthSettings) -> list[Reason]:
    found = []
    for queue, depth in sorted(metrics.queue_depths.items()):
        if graded := grade(depth, limits.queue_backlog_degraded, limits.queue_backlog_unhealthy):
            level, threshold = graded
            found.append(Reason("queue_depth", depth, threshold, level,
                                f"{depth:,} messages waiting in {queue} ({level} from {threshold:,})", subject=queue))
    return found


def _error_rates(metrics: Metrics, limits: HealthSettings) -> list[Reason]:
    found = []
    for category, rate in sorted((metrics.error_rate_per_min or {}).items()):
        if graded := grade(rate, limits.error_rate_degraded_per_min, limits.error_rate_unhealthy_per_min):
            level, threshold = graded
            found.append(Reason("error_rate_per_min", rate, threshold, level,
                                f"{rate:,.1f} {category} errors per minute ({level} from {threshold:g})",
                                subject=category))
    return found


def _recovery(metrics: Metrics, limits: HealthSettings) -> list[Reason]:
    rate, finished = metrics.recovery_success_rate, metrics.executions_finished or 0
    if rate is None or finished < limits.recovery_min_finished:
        return []
    if rate < limits.recovery_success_unhealthy_below:
        level, threshold = UNHEALTHY, limits.recovery_success_unhealthy_below
    elif rate < limits.recovery_success_degraded_below:
        level, threshold = DEGRADED, limits.recovery_success_degraded_below
    else:
        return []
    return [Reason("recovery_success_rate", rate, threshold, level,
                   f"{rate:.0%} of {finished} executions finished in the last {metrics.window_s:g}s succeeded "
                   f"({level} below {threshold:.0%})")]


def _breakers(metrics: Metrics, limits: HealthSettings) -> list[Reason]:
    opened = metrics.open_breakers or {}
    graded = grade(len(opened), limits.open_breakers_degraded, limits.open_breakers_unhealthy)
    if graded is None:
        return []
    level, threshold = graded
    return [Reason("open_breakers", len(opened), threshold, level,
                   f"circuit breaker of {service} is {state.replace('_', ' ')} "
                   f"({len(opened)} open; {level} from {threshold})", subject=service)
            for service, state in sorted(opened.items())]


def _counts(metrics: Metrics, limits: HealthSettings) -> list[Reason]:
    found = []
    for metric, value, degraded, unhealthy, what in (
            ("stuck_executions", metrics.stuck_executions, limits.stuck_degraded, limits.stuck_unhealthy,
             "stuck executions"),
            ("dead_letters", metrics.dead_letters, limits.dead_letters_degraded, limits.dead_letters_unhealthy,
             "dead letters (recoveries tried that ended dead)")):
        if graded := grade(value, degraded, unhealthy):
            level, threshold = graded
            found.append(Reason(metric, value, threshold, level, f"{value:,} {what} ({level} from {threshold:,})"))
    return found


def _backup(metrics: Metrics, limits: HealthSettings) -> list[Reason]:
    age_h = metrics.last_good_backup_age_h
    if age_h is None:
        installed_h = metrics.installation_age_h
        if installed_h is not None and installed_h <= limits.backup_degraded_after_h:
            return []  # a fresh install: its first nightly backup has not been due yet
        return [Reason("last_good_backup_age_h", None, limits.backup_degraded_after_h, DEGRADED,
                       "no verified backup yet")]
    if age_h <= limits.backup_degraded_after_h:
        return []
    level, threshold = ((UNHEALTHY, limits.backup_unhealthy_after_h) if age_h > limits.backup_unhealthy_after_h
                        else (DEGRADED, limits.backup_degraded_after_h))
    return [Reason("last_good_backup_age_h", age_h, threshold, level,
                   f"the newest verified backup is {age_h:,.1f} h old ({level} beyond {threshold:g} h)")]
