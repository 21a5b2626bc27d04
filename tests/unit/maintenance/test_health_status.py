"""The health status as a pure function of metrics and thresholds: one row per threshold edge."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from config.errors import ConfigError
from config.jobs.health import HealthSettings
from config.settings import load_settings
from workers.maintenance.health.metrics import Metrics
from workers.maintenance.health.status import evaluate, grade

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIMITS = HealthSettings()
QUEUES = {"medic.errors": 0, "medic.recovery": 0, "medic.maintenance": 0}


def healthy(**changes) -> Metrics:
    base = Metrics(window_s=300, queue_depths=dict(QUEUES), errors_in_window={}, error_rate_per_min={},
                   executions_finished=0, executions_succeeded=0, recovery_success_rate=None, open_breakers={},
                   stuck_executions=0, dead_letters=0, last_good_backup_at=NOW - timedelta(hours=1),
                   last_good_backup_age_h=1.0, database_size_bytes=1 << 20, problems={}, duration_ms=12.0)
    return replace(base, **changes)


def backup_age(hours: float) -> dict:
    return {"last_good_backup_at": NOW - timedelta(hours=hours), "last_good_backup_age_h": hours}


def recovery(succeeded: int, finished: int) -> dict:
    return {"executions_finished": finished, "executions_succeeded": succeeded,
            "recovery_success_rate": succeeded / finished if finished else None}


CASES = [
    # (id, metric changes, status, reasons as (metric, subject, level, threshold))
    ("all fine", {}, "healthy", []),
    ("queue just below", {"queue_depths": {**QUEUES, "medic.errors": 999}}, "healthy", []),
    ("queue backlog", {"queue_depths": {**QUEUES, "medic.errors": 1000}}, "degraded",
     [("queue_depth", "medic.errors", "degraded", 1000)]),
    ("queue flooded", {"queue_depths": {**QUEUES, "medic.recovery": 10_000}}, "unhealthy",
     [("queue_depth", "medic.recovery", "unhealthy", 10_000)]),
    ("broker unreachable", {"queue_depths": dict.fromkeys(QUEUES), "problems": {"broker": "refused"}}, "unhealthy",
     [("broker_reachable", "broker", "unhealthy", None)]),
    ("error rate below", {"error_rate_per_min": {"network": 59.9}}, "healthy", []),
    ("error rate per category", {"error_rate_per_min": {"network": 60, "timeout": 600, "auth": 1}}, "unhealthy",
     [("error_rate_per_min", "timeout", "unhealthy", 600), ("error_rate_per_min", "network", "degraded", 60)]),
    ("none finished", recovery(0, 0), "healthy", []),
    ("too few finished to judge", recovery(0, 9), "healthy", []),
    ("success rate at the line", recovery(8, 10), "healthy", []),
    ("low success rate", recovery(7, 10), "degraded", [("recovery_success_rate", None, "degraded", 0.8)]),
    ("very low success rate", recovery(4, 10), "unhealthy", [("recovery_success_rate", None, "unhealthy", 0.5)]),
    ("one breaker open", {"open_breakers": {"partner": "forced_open"}}, "degraded",
     [("open_breakers", "partner", "degraded", 1)]),
    ("many breakers open", {"open_breakers": {"a": "open", "b": "open", "c": "forced_open"}}, "unhealthy",
     [("open_breakers", "a", "unhealthy", 3), ("open_breakers", "b", "unhealthy", 3),
      ("open_breakers", "c", "unhealthy", 3)]),
    ("breaker store unreachable", {"open_breakers": None, "problems": {"breakers": "redis down"}}, "degraded",
     [("breakers_reachable", "breakers", "degraded", None)]),
    ("one stuck", {"stuck_executions": 1}, "degraded", [("stuck_executions", None, "degraded", 1)]),
    ("many stuck", {"stuck_executions": 10}, "unhealthy", [("stuck_executions", None, "unhealthy", 10)]),
    ("some dead letters", {"dead_letters": 99}, "healthy", []),
    ("dead letters pile up", {"dead_letters": 100}, "degraded", [("dead_letters", None, "degraded", 100)]),
    ("dead letters flood", {"dead_letters": 1000}, "unhealthy", [("dead_letters", None, "unhealthy", 1000)]),
    ("no backup yet", {"last_good_backup_at": None, "last_good_backup_age_h": None}, "degraded",
     [("last_good_backup_age_h", None, "degraded", 26)]),
    ("no backup yet, installed an hour ago: its first backup has not been due", {
        "last_good_backup_at": None, "last_good_backup_age_h": None, "installation_age_h": 1.0}, "healthy", []),
    ("no backup yet, installed 26 h ago: the grace is over", {
        "last_good_backup_at": None, "last_good_backup_age_h": None, "installation_age_h": 26.5}, "degraded",
     [("last_good_backup_age_h", None, "degraded", 26)]),
    ("backup at the limit", backup_age(26), "healthy", []),
    ("backup old", backup_age(26.5), "degraded", [("last_good_backup_age_h", None, "degraded", 26)]),
    ("backup very old", backup_age(73), "unhealthy", [("last_good_backup_age_h", None, "unhealthy", 72)]),
    ("database unreachable: critical, backup not judged",
     {"errors_in_window": None, "error_rate_per_min": None, "executions_finished": None, "executions_succeeded": None,
      "stuck_executions": None, "dead_letters": None, "last_good_backup_at": None, "last_good_backup_age_h": None,
      "database_size_bytes": None, "problems": {"database": "connection refused"}},
     "critical", [("database_reachable", "database", "critical", None)]),
    ("the worst reason decides, listed first",
     {"stuck_executions": 1, "queue_depths": {**QUEUES, "medic.errors": 20_000}}, "unhealthy",
     [("queue_depth", "medic.errors", "unhealthy", 10_000), ("stuck_executions", None, "degraded", 1)]),
]


@pytest.mark.parametrize("changes, status, reasons", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_status_and_reasons(changes, status, reasons):
    assessment = evaluate(healthy(**changes), LIMITS, backups_expected=True)
    assert assessment.status == status
    assert [(r.metric, r.subject, r.level, r.threshold) for r in assessment.reasons] == reasons
    assert all(r.text for r in assessment.reasons)


def test_no_backup_is_fine_when_the_backup_job_is_disabled():
    metrics = healthy(last_good_backup_at=None, last_good_backup_age_h=None)
    assert evaluate(metrics, LIMITS, backups_expected=False).status == "healthy"


def test_reason_text_names_value_and_threshold():
    [reason] = evaluate(healthy(queue_depths={**QUEUES, "medic.errors": 1500}), LIMITS, backups_expected=True).reasons
    assert reason.text == "1,500 messages waiting in medic.errors (degraded from 1,000)"
    assert reason.to_dict() == {"metric": "queue_depth", "value": 1500, "threshold": 1000, "level": "degraded",
                                "text": reason.text, "subject": "medic.errors"}


@pytest.mark.parametrize("value, expected", [(None, None), (0, None), (4, None), (5, ("degraded", 5)),
                                             (9, ("degraded", 5)), (10, ("unhealthy", 10)), (11, ("unhealthy", 10))])
def test_grade(value, expected):
    assert grade(value, 5, 10) == expected


def test_custom_thresholds_apply():
    limits = HealthSettings(stuck_degraded=5, stuck_unhealthy=5)
    assert evaluate(healthy(stuck_executions=4), limits, backups_expected=True).status == "healthy"
    assert evaluate(healthy(stuck_executions=5), limits, backups_expected=True).status == "unhealthy"


@pytest.mark.parametrize("fields, named", [
    ({"queue_backlog_degraded": 100, "queue_backlog_unhealthy": 10},
     r"queue_backlog_unhealthy \(10\) must be at least queue_backlog_degraded \(100\)"),
    ({"error_rate_degraded_per_min": 5, "error_rate_unhealthy_per_min": 1}, "error_rate_unhealthy_per_min"),
    ({"backup_degraded_after_h": 48, "backup_unhealthy_after_h": 24}, "backup_unhealthy_after_h"),
    ({"recovery_success_degraded_below": 0.5, "recovery_success_unhealthy_below": 0.9},
     "recovery_success_unhealthy_below"),
])
def test_thresholds_out_of_order_are_refused(fields, named):
    with pytest.raises(ValidationError, match=named):
        HealthSettings(**fields)


def test_thresholds_from_the_environment(monkeypatch):
    monkeypatch.setenv("MEDIC_HEALTH__QUEUE_BACKLOG_DEGRADED", "5")
    monkeypatch.setenv("MEDIC_HEALTH__WINDOW_S", "60")
    settings = load_settings()
    assert (settings.health.queue_backlog_degraded, settings.health.window_s) == (5, 60)
    monkeypatch.setenv("MEDIC_HEALTH__QUEUE_BACKLOG_UNHEALTHY", "2")
    with pytest.raises(ConfigError, match="queue_backlog_unhealthy"):
        load_settings()


def test_metrics_round_trip_through_json():
    metrics = healthy(problems={"broker": "down"}, queue_depths=dict.fromkeys(QUEUES))
    assert Metrics.from_dict({**metrics.to_dict(), "added_by_a_newer_version": 1}) == metrics
