"""What a failed replay comes to (the client's report, or none) and which idempotency key a replay carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config.settings import Settings
from workers.classification import Classifier
from workers.intake.triage import Limits
from workers.recovery.perform import idempotency_key
from workers.recovery.plans import builtin_plan_paths, has_work, load_plans
from workers.recovery.replay_errors import replay_failure

NOW = datetime(2026, 12, 7, tzinfo=UTC)
LIMITS = Limits.from_settings(Settings())
SECRET = "sk_live_abcdefghijklmnop1234"


@pytest.fixture(scope="module")
def classifier():
    return Classifier.from_files([])


def failure(error, classifier):
    return replay_failure(error, task_id="medic-1-2", limits=LIMITS, classifier=classifier, now=NOW)


def test_without_a_report_a_failed_replay_is_retryable_and_names_the_task(classifier):
    result = failure(None, classifier)
    assert (result.outcome, result.error) == ("retryable", "the replayed task failed (task id medic-1-2)")


def test_a_reported_permanent_error_moves_the_plan_on_and_spares_the_breaker(classifier):
    error = {"error_type": "payments.InvalidCard", "message": "card declined: invalid number", "service": "psp",
             "http_status": 400}
    result = failure(error, classifier)
    assert result.outcome == "permanent" and not result.counts_against_breaker
    assert result.error == "payments.InvalidCard: card declined: invalid number"
    assert result.detail["category"] == "validation" and result.detail["reported"]


def test_a_reported_transient_error_stays_retryable(classifier):
    error = {"error_type": "ConnectionRefusedError", "message": "[Errno 111] Connection refused", "service": "psp",
             "errno": "ECONNREFUSED"}
    assert failure(error, classifier).outcome == "retryable"


def test_a_report_is_masked_like_any_event(classifier):
    error = {"error_type": "ValueError", "message": f"bad api_key={SECRET}", "service": "psp"}
    assert SECRET not in failure(error, classifier).error


@pytest.mark.parametrize("error", ["not an event", {"message": "no type"}, {"error_type": "E", "message": "m",
                                                                            "service": "s", "http_status": "x"}])
def test_a_report_intake_would_refuse_is_ignored_and_the_failure_stays_retryable(classifier, error):
    result = failure(error, classifier)
    assert result.outcome == "retryable" and "its report was ignored: invalid event" in result.error


@pytest.mark.parametrize("event, target, expected", [
    ({"idempotency_key": "order-981-push"}, {"kind": "http"}, "order-981-push"),
    ({"idempotency_key": "order-981-push"}, {"kind": "celery", "idempotency": "event"}, "order-981-push"),
    ({"idempotency_key": "order-981-push"}, {"kind": "http", "idempotency": "execution"}, "medic-execution-7"),
    ({}, {"kind": "http"}, "medic-execution-7"),
    ({"idempotency_key": ""}, {"kind": "celery"}, "medic-execution-7"),
])
def test_a_replay_carries_the_key_of_the_original_call_unless_the_target_asks_otherwise(event, target, expected):
    assert idempotency_key(7, event, target) == expected


def test_an_event_reported_inside_a_replay_starts_no_recovery_of_its_own():
    plan = load_plans(builtin_plan_paths()).select({"service": "s"}, "network", "medium")
    event = {"service": "s", "replay": {"kind": "celery", "task": "app.push"}}
    assert has_work(plan, event) and not has_work(plan, {**event, "medic_execution_id": 12})
