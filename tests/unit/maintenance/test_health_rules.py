"""The alert rules as a pure function of the status's reasons."""

from __future__ import annotations

import pytest

from config.jobs.health import HealthSettings
from tests.unit.maintenance.test_health_status import QUEUES, backup_age, healthy, recovery
from workers.maintenance.health.rules import RULES, firing
from workers.maintenance.health.status import Reason, evaluate

CASES = [
    # (id, metric changes, firing as (rule, subject, level))
    ("healthy: nothing fires", {}, []),
    ("error rate per category", {"error_rate_per_min": {"network": 61, "timeout": 700, "auth": 2}},
     [("high_error_rate", "timeout", "error"), ("high_error_rate", "network", "warning")]),
    ("low recovery success", recovery(3, 20), [("low_recovery_success_rate", "recovery", "error")]),
    ("one alert per open breaker", {"open_breakers": {"github": "open", "smtp": "forced_open"}},
     [("breaker_open", "github", "warning"), ("breaker_open", "smtp", "warning")]),
    ("one alert per backlogged queue", {"queue_depths": {**QUEUES, "medic.errors": 2000, "medic.recovery": 50_000}},
     [("queue_backlog", "medic.recovery", "error"), ("queue_backlog", "medic.errors", "warning")]),
    ("no good backup: none", {"last_good_backup_at": None, "last_good_backup_age_h": None},
     [("no_good_backup", "backup", "warning")]),
    ("no good backup: too old", backup_age(100), [("no_good_backup", "backup", "error")]),
    ("stuck executions", {"stuck_executions": 2}, [("stuck_executions", "executions", "warning")]),
    ("dead letters", {"dead_letters": 5000}, [("dead_letters", "executions", "error")]),
    ("broker unreachable", {"queue_depths": dict.fromkeys(QUEUES), "problems": {"broker": "refused"}},
     [("broker_unreachable", "broker", "error")]),
    ("database unreachable", {"problems": {"database": "refused"}}, [("database_unreachable", "database", "critical")]),
]


@pytest.mark.parametrize("changes, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_firing(changes, expected):
    reasons = evaluate(healthy(**changes), HealthSettings(), backups_expected=True).reasons
    fired = firing(reasons)
    assert [(f.rule, f.subject, f.level) for f in fired] == expected
    for fire, reason in zip(fired, reasons, strict=False):
        assert fire.summary == reason.text
        assert fire.detail == {"metric": reason.metric, "value": reason.value, "threshold": reason.threshold,
                               "status_level": reason.level}


def test_every_reason_a_status_can_give_has_a_rule():
    everything = healthy(queue_depths={**QUEUES, "medic.errors": 10**6}, error_rate_per_min={"network": 10**4},
                         open_breakers={"a": "open"}, stuck_executions=100, dead_letters=10**4,
                         problems={"broker": "x", "breakers": "y", "database": "z"}, **recovery(0, 100))
    reasons = evaluate(everything, HealthSettings(), backups_expected=False).reasons
    reasons += evaluate(healthy(last_good_backup_at=None, last_good_backup_age_h=None), HealthSettings(),
                        backups_expected=True).reasons
    assert {r.metric for r in reasons} == set(RULES)
    assert len(firing(reasons)) == len(reasons)


def test_one_alert_per_rule_and_subject():
    reason = Reason("stuck_executions", 3, 1, "degraded", "3 stuck executions")
    assert len(firing([reason, reason])) == 1
