"""A Celery replay due at once is claimed by the transaction that stores its event and sent right
after the commit, with no medic.recovery.run message between (SQLite and PostgreSQL, a recording
dispatcher). Everything else, and anything behind a breaker that is not closed, takes the usual way."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from config.settings import load_settings
from tests.support.clock import ManualClock
from tests.support.recovery import RecordingDispatcher
from workers.intake.service import IntakeService
from workers.recovery import operator, store
from workers.recovery.outcomes import retryable, success
from workers.recovery.service import RecoveryService
from workers.storage.db import session_factory
from workers.storage.models import Attempt, AuditEntry, Execution

pytestmark = pytest.mark.integration

CELERY = {"kind": "celery", "task": "app.sync", "args": [7], "queue": "app"}
HTTP = {"kind": "http", "method": "POST", "url": "https://partner.example/sync", "timeout_s": 2.0}
NETWORK = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused", "service": "partner"}
REPLAY_TARGETS = {"celery_tasks": ["app.*"], "celery_queues": ["app"]}
TIMEOUT_S = 30


@pytest.fixture
def world(database_url, tmp_path):
    plans = tmp_path / "plans.yaml"
    plans.write_text(f"""
plans:
  - name: transient
    match: {{category: network}}
    steps:
      - {{kind: retry, max_attempts: 2, initial_delay_s: 0, backoff_rate: 1, max_delay_s: 0, jitter: none,
         timeout_s: {TIMEOUT_S}}}
      - {{kind: dead_letter}}
""")
    settings = load_settings(database_url=database_url, broker_url="memory://", plans_files=[plans],
                             breaker_store="database", replay_targets=REPLAY_TARGETS)
    clock, recorder = ManualClock(), RecordingDispatcher()
    service = RecoveryService(settings, dispatcher=recorder, clock=clock, rng=random.Random(1))
    intake = IntakeService(settings, recovery=service, clock=clock)
    return service, intake, recorder, clock, session_factory(database_url)


def report(intake, replay, key="d1"):
    outcome = intake.report({**NETWORK, "replay": replay}, delivery_id=key)
    assert outcome.status == "stored"


def rows(sessions, model, order=None):
    with sessions() as session:
        return list(session.scalars(select(model).order_by(order if order is not None else model.id)))


def test_a_replay_due_at_once_is_claimed_with_its_event_and_sent_without_a_run_message(world):
    service, intake, recorder, clock, sessions = world
    report(intake, CELERY)
    [attempt] = rows(sessions, Attempt)
    assert recorder.runs == []
    assert recorder.replays == [(f"medic-{attempt.execution_id}-{attempt.id}", attempt.id)]
    assert attempt.state == "running" and attempt.claimed_by == service.actor.name
    assert attempt.claimed_at.replace(tzinfo=clock.now.tzinfo) == clock.now
    assert attempt.deadline_at.replace(tzinfo=clock.now.tzinfo) == clock.now + timedelta(seconds=TIMEOUT_S)
    assert (attempt.dispatched_at, attempt.dispatch_count) == (None, 0)
    [execution] = rows(sessions, Execution)
    assert execution.state == "running"
    audit = rows(sessions, AuditEntry, AuditEntry.id)
    assert [(a.action, a.from_state, a.to_state, a.attempt_id) for a in audit] == [
        ("created", None, "pending", attempt.id), ("claimed", "pending", "running", attempt.id)]
    assert audit[1].reason == "attempt 1 of step 1 (retry)"


    service.after_commit(service.record(attempt.id, success()))
    assert rows(sessions, Execution)[0].state == "succeeded"


@pytest.mark.parametrize("probe", [False, True], ids=["plain", "probe"])
def test_a_success_is_recorded_the_same_on_both_databases(world, probe, monkeypatch):
    """PostgreSQL records it in one statement (record_sql), SQLite by the general path: same rows."""
    service, intake, recorder, clock, sessions = world
    told = []
    monkeypatch.setattr(service.breakers, "record_success", lambda name, *, probe: told.append((name, probe)))
    report(intake, CELERY)
    [attempt] = rows(sessions, Attempt)
    if probe:
        with sessions() as session:
            session.get(Attempt, attempt.id).detail = {"probe": True}
            session.commit()
    clock.advance(2)
    assert service.record(attempt.id, success(task_id="t-1", result={"ok": True})) is None
    [attempt] = rows(sessions, Attempt)
    assert (attempt.state, attempt.outcome, attempt.error) == ("succeeded", "success", None)
    assert attempt.detail == {**({"probe": True} if probe else {}), "task_id": "t-1", "result": {"ok": True}}
    assert attempt.finished_at.replace(tzinfo=clock.now.tzinfo) == clock.now
    [execution] = rows(sessions, Execution)
    assert (execution.state, execution.reason, execution.next_attempt_at) == (
        "succeeded", "step 1 (retry) succeeded", None)
    assert execution.finished_at.replace(tzinfo=clock.now.tzinfo) == clock.now and execution.version == 2
    last = rows(sessions, AuditEntry, AuditEntry.id)[-1]
    assert (last.action, last.from_state, last.to_state, last.attempt_id, last.actor) == (
        "succeeded", "running", "succeeded", attempt.id, service.actor.name)
    assert last.detail == {"outcome_of": {"step": 1, "attempt": 1, "outcome": "success", "error": None,
                                          "task_id": "t-1", "result": {"ok": True}}}
    assert told == [("partner", probe)]  # the breaker hears of it (a probe's success closes it)


def test_a_success_for_an_execution_cancelled_meanwhile_finishes_only_its_attempt(world):
    service, intake, recorder, clock, sessions = world
    report(intake, CELERY)
    [attempt] = rows(sessions, Attempt)
    operator.cancel(service, attempt.execution_id, actor=store.Actor("operator:test"))
    audit_before = len(rows(sessions, AuditEntry))
    service.record(attempt.id, success())
    assert rows(sessions, Execution)[0].state == "cancelled"
    assert len(rows(sessions, AuditEntry)) == audit_before


def test_a_second_message_for_an_attempt_claimed_at_its_start_does_nothing(world):
    service, intake, recorder, clock, sessions = world
    report(intake, CELERY)
    [attempt] = rows(sessions, Attempt)
    service.run(attempt.id)  # a run message, e.g. the sweeper's after a crash: the claim is taken
    assert len(recorder.replays) == 1


@pytest.mark.parametrize("replay", [HTTP, {**CELERY, "queue": "app"}], ids=["http", "celery-behind-open-breaker"])
def test_a_call_that_waits_or_a_breaker_not_closed_takes_the_usual_way(world, replay):
    service, intake, recorder, clock, sessions = world
    if replay["kind"] == "celery":
        service.breakers.force_open("partner", actor="test")
    report(intake, replay)
    [attempt] = rows(sessions, Attempt)
    assert attempt.state == "scheduled" and recorder.replays == []
    assert recorder.runs == [(attempt.id, 0.0)]
    assert [a.action for a in rows(sessions, AuditEntry)] == ["created"]


def test_a_replay_the_broker_refuses_after_the_commit_counts_as_a_failed_attempt(world):
    service, intake, recorder, clock, sessions = world

    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    recorder.replay = refuse
    report(intake, CELERY)
    first, second = rows(sessions, Attempt)
    assert (first.state, first.outcome) == ("failed", "retryable") and "broker down" in first.error
    assert second.state == "scheduled" and recorder.runs == [(second.id, 0.0)]


def test_trouble_after_the_commit_leaves_the_event_stored_and_the_attempt_to_the_sweeper(world, monkeypatch):
    service, intake, recorder, clock, sessions = world

    def unavailable(service_name):
        raise ConnectionError("breaker store down")

    monkeypatch.setattr(service.breakers, "acquire", unavailable)
    report(intake, CELERY)
    [attempt] = rows(sessions, Attempt)
    assert (attempt.state, attempt.sent_at) == ("running", None) and recorder.replays == []
    monkeypatch.undo()
    clock.advance(service.settings.recovery_redispatch_after_s - 1)
    assert service.sweep()["resent"] == 0  # not yet: its process may still be sending it
    clock.advance(2)
    assert service.sweep()["resent"] == 1
    [attempt] = rows(sessions, Attempt)
    assert attempt.state == "scheduled" and recorder.runs == [(attempt.id, 0)]
    assert rows(sessions, AuditEntry, AuditEntry.id)[-1].action == "resent"
    service.run(attempt.id)
    [attempt] = rows(sessions, Attempt)
    assert attempt.state == "running" and attempt.sent_at is not None and len(recorder.replays) == 1


def test_a_published_replay_is_marked_sent_and_never_sent_again_by_the_sweeper(world):
    service, intake, recorder, clock, sessions = world
    report(intake, CELERY)
    [attempt] = rows(sessions, Attempt)
    assert attempt.sent_at is not None
    clock.advance(service.settings.recovery_redispatch_after_s + 1)
    assert service.sweep()["resent"] == 0 and len(recorder.replays) == 1


def test_a_replay_claimed_by_a_run_message_whose_worker_died_before_sending_is_sent_again(world):
    service, intake, recorder, clock, sessions = world
    service.breakers.force_open("partner", actor="test")
    report(intake, CELERY)  # behind an open breaker: a run message, not a claim at the start
    service.breakers.close("partner", actor="test")
    [attempt] = rows(sessions, Attempt)
    with sessions() as session:  # what _claim writes, then the worker is killed before it publishes
        assert store.claim(session, attempt.id, now=clock.now, actor=store.Actor("worker:gone:1"),
                           deadline_at=clock.now + timedelta(seconds=600), sent_at=None)
        session.commit()
    clock.advance(service.settings.recovery_redispatch_after_s + 1)
    swept = service.sweep()
    assert (swept["dispatched"], swept["resent"], swept["timed_out"]) == (0, 1, 0)
    service.run(attempt.id)
    assert len(recorder.replays) == 1 and rows(sessions, Attempt)[0].sent_at is not None


def test_a_dead_letter_replayed_by_an_operator_is_sent_at_once_too(world):
    service, intake, recorder, clock, sessions = world
    report(intake, CELERY)
    for _ in range(2):
        attempt = rows(sessions, Attempt)[-1]
        service.after_commit(service.record(attempt.id, retryable("partner down")))
        if recorder.runs:
            service.run(recorder.runs.pop()[0])
    [dead] = rows(sessions, Execution)
    assert dead.state == "dead"
    new_id = operator.replay_dead(service, dead.id, actor=store.Actor("operator:test"))
    attempt = rows(sessions, Attempt)[-1]
    assert attempt.execution_id == new_id and attempt.state == "running"
    assert recorder.replays[-1] == (f"medic-{new_id}-{attempt.id}", attempt.id)
