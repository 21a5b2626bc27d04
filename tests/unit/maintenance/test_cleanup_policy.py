"""The cleanup job's decisions: cutoffs per kind, the broker's cutoff and floor, the time budget, the summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from config.jobs.cleanup import CleanupSettings
from config.settings import Settings
from workers.maintenance import cleanup_policy as policy

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("kind, days", [
    ("groups", 90), ("executions", 30), ("audit", 365), ("rejected_events", 30), ("maintenance_runs", 90),
    ("health_snapshots", 14), ("notifications", 30), ("alerts", 90), ("breaker_transitions", 90),
    ("reconciliation_log", 90),
])
def test_default_cutoffs(kind, days):
    assert policy.cutoffs(CleanupSettings(), NOW)[kind] == NOW - timedelta(days=days)


def test_a_retention_of_zero_leaves_the_kind_out():
    cutoffs = policy.cutoffs(CleanupSettings(health_snapshots_days=0, audit_days=0), NOW)
    assert "health_snapshots" not in cutoffs and "audit" not in cutoffs
    assert len(cutoffs) == len(policy.RETENTION_DAYS) - 2


def test_every_kind_has_its_setting():
    assert set(policy.RETENTION_DAYS.values()) <= set(CleanupSettings.model_fields)


@pytest.mark.parametrize("field, value", [
    ("resolved_groups_days", -1), ("batch_size", 0), ("batch_size", 10_001), ("pause_between_batches_ms", -5),
    ("broker_delivered_retention_s", -1), ("nonsense_days", 3),
])
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(ValidationError, match=field):
        CleanupSettings(**{field: value})


@pytest.mark.parametrize("offset_h, retention_s, expected", [
    (0, 86_400, datetime(2026, 3, 28, 0, 30)),
    (2, 86_400, datetime(2026, 3, 28, 2, 30)),  # local time two hours ahead of UTC
    (-5, 3_600, datetime(2026, 3, 28, 18, 30)),
    (0, 0, None),  # disabled
])
def test_broker_cutoff_is_naive_local_time(offset_h, retention_s, expected):
    local = timezone(timedelta(hours=offset_h))
    assert policy.broker_cutoff(NOW, retention_s, local=local) == expected


@pytest.mark.parametrize("retention_s, problem",
                         [(86_400, False), (0, False), (3_660, False), (3_659, True), (60, True)])
def test_broker_retention_must_outlast_any_message_a_worker_holds(retention_s, problem, tmp_path):
    # Default limits: the longest job hard limit is 3600 s (backup, db-maintenance), countdowns up to 60 s.
    settings = Settings(data_dir=tmp_path, cleanup=CleanupSettings(broker_delivered_retention_s=retention_s))
    assert policy.longest_hold_s(settings) == 3_660
    found = policy.broker_retention_problem(settings)
    assert (found is not None) == problem
    if problem:
        assert "MEDIC_CLEANUP__BROKER_DELIVERED_RETENTION_S" in found


def test_the_time_budget_leaves_room_before_the_soft_limit():
    assert policy.time_budget_s(1500) == 1350


@pytest.mark.parametrize("counts, dry_run, stopped, text", [
    ({}, False, False, "nothing past retention"),
    ({"audit": 0, "batches": 0}, False, False, "nothing past retention"),
    ({"groups": 2, "group_occurrences": 7, "audit": 0, "batches": 3}, False, False,
     "deleted groups 2, group_occurrences 7 in 3 batch(es)"),
    ({"executions": 5, "batches": 5}, False, True,
     "deleted executions 5 in 5 batch(es); stopped at the time budget, the next run goes on"),
    ({"broker_messages": 4, "alerts": 1}, True, False, "dry run: would delete alerts 1, broker_messages 4"),
    ({"alerts": 0}, True, False, "dry run: nothing past retention"),
])
def test_summary(counts, dry_run, stopped, text):
    assert policy.summary(counts, dry_run=dry_run, stopped=stopped) == text
