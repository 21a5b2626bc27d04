"""The alert rules: which alerts fire, given the reasons of a snapshot's status. Pure.

Every reason fires its rule, so an alert is open exactly while the status names its cause;
a rule with several subjects (queues, categories, services) fires once per subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.channels import Level
from workers.maintenance.health.status import CRITICAL, DEGRADED, UNHEALTHY, Reason

# metric of a reason -> (rule, subject when the reason names none)
RULES: dict[str, tuple[str, str]] = {
    "error_rate_per_min": ("high_error_rate", "errors"),
    "recovery_success_rate": ("low_recovery_success_rate", "recovery"),
    "open_breakers": ("breaker_open", "breakers"),
    "queue_depth": ("queue_backlog", "queues"),
    "last_good_backup_age_h": ("no_good_backup", "backup"),
    "stuck_executions": ("stuck_executions", "executions"),
    "dead_letters": ("dead_letters", "executions"),
    "database_reachable": ("database_unreachable", "database"),
    "broker_reachable": ("broker_unreachable", "broker"),
    "breakers_reachable": ("breaker_store_unreachable", "breakers"),
}
# status level of a reason -> notification level of its alert
ALERT_LEVELS: dict[str, Level] = {DEGRADED: "warning", UNHEALTHY: "error", CRITICAL: "critical"}


@dataclass(frozen=True)
class Firing:
    rule: str
    subject: str
    level: Level  # warning | error | critical
    summary: str
    detail: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.subject


def firing(reasons: list[Reason]) -> list[Firing]:
    found: dict[tuple[str, str], Firing] = {}
    for reason in reasons:
        rule, default_subject = RULES[reason.metric]
        alert = Firing(rule, reason.subject or default_subject, ALERT_LEVELS[reason.level], reason.text,
                       {"metric": reason.metric, "value": reason.value, "threshold": reason.threshold,
                        "status_level": reason.level})
        found.setdefault(alert.key, alert)
    return list(found.values())
