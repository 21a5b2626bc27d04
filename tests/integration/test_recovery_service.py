"""The recovery service against a real database (SQLite and PostgreSQL), with a recording dispatcher:
claims happen once, outcomes count once, the sweeper finds what is due, lost or overdue."""

from __future__ import annotations

import random
import threading
from datetime import UTC

import pytest
from sqlalchemy import select

from config.settings import load_settings
from tests.support.clock import ManualClock
from tests.support.recovery import RecordingDispatcher
from workers.intake.service import IntakeService
from workers.notify import queue
from workers.recovery import operator, store
from workers.recovery.outcomes import permanent, retryable, success
from workers.recovery.service import RecoveryService
from workers.storage.db import session_factory
from workers.storage.models import Attempt, AuditEntry, Execution

pytestmark = pytest.mark.integration

CELERY = {"kind": "celery", "task": "app.flaky", "args": [1], "queue": "app"}
NETWORK = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused", "service": "partner"}
BUG = {"error_type": "KeyError", "message": "'sku'", "service": "shop"}
NOOP = {"kind": "action", "name": "noop"}
# What the events here may name (MEDIC_REPLAY_TARGETS__*).
REPLAY_TARGETS = {"celery_tasks": ["app.*"], "celery_queues": ["app"], "actions": ["noop"]}



@pytest.fixture
def world(database_url, tmp_path):
    plans = tmp_path / "plans.yaml"
    plans.write_text("""
plans:
  - name: transient
    match: {category: network}
    steps:
      - {kind: retry, max_attempts: 3, initial_delay_s: 1, backoff_rate: 10, max_delay_s: 100, jitter: none,
         timeout_s: 30}
      - {kind: notify, channel: log, level: warning}
      - {kind: dead_letter}
""")
    settings = load_settings(database_url=database_url, broker_url="memory://", plans_files=[plans],
                             recovery_countdown_max_s=5, breaker_store="database", recovery_redispatch_after_s=30,
                             replay_targets=REPLAY_TARGETS)
    clock, recorder = ManualClock(), RecordingDispatcher()
    service = RecoveryService(settings, dispatcher=recorder, clock=clock, rng=random.Random(1))
    intake = IntakeService(settings, recovery=service, clock=clock)
    return service, intake, recorder, clock, session_factory(database_url)


def report(intake, n=1, **extra):
    return [intake.report({**NETWORK, "replay": CELERY, **extra}, delivery_id=f"d{i}-{id(extra)}") for i in range(n)]


def attempts(sessions, execution_id=None):
    with sessions() as session:
        query = select(Attempt).order_by(Attempt.id)
        if execution_id:
            query = query.where(Attempt.execution_id == execution_id)
        return list(session.scalars(query))


def execution(sessions, execution_id=1):
    with sessions() as session:
        return session.get(Execution, execution_id)


def test_an_occurrence_starts_an_execution_in_the_same_transaction(world):
    service, intake, recorder, clock, sessions = world
    report(intake)
    assert execution(sessions).state == "pending"
    [first] = attempts(sessions)
    assert (first.state, first.number, first.step_kind) == ("scheduled", 1, "retry")
    assert recorder.runs == [(first.id, 1.0)]  # short delay: a countdown
    intake.report({**NETWORK, "replay": CELERY},
                  delivery_id="d0-dup")  # different delivery, same content: new occurrence
    intake.report({**NETWORK, "replay": CELERY, "idempotency_key": "k"}, delivery_id="x1")
    intake.report({**NETWORK, "replay": CELERY, "idempotency_key": "k"}, delivery_id="x2")  # duplicate: no execution
    with sessions() as session:
        assert len(store.list_executions(session)) == 3


def test_a_replay_is_claimed_once_however_often_its_message_comes(world):
    service, intake, recorder, clock, sessions = world
    report(intake)
    clock.advance(1)
    [attempt] = attempts(sessions)
    threads = [threading.Thread(target=service.run, args=(attempt.id,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(recorder.replays) == 1
    assert attempts(sessions)[0].state == "running"


def test_retry_then_success(world):
    service, intake, recorder, clock, sessions = world
    report(intake)
    for expected_delay in (10.0, 100.0):
        clock.advance(100)
        attempt = attempts(sessions)[-1]
        service.run(attempt.id)
        service.after_commit(service.record(attempt.id, retryable("partner down")))
        nxt = attempts(sessions)[-1]
        assert (nxt.scheduled_for.replace(tzinfo=UTC) - clock.now).total_seconds() == expected_delay
    assert execution(sessions).state == "waiting"
    # 10 s and 100 s are above the countdown threshold (5 s): no message, the sweeper sends them
    assert len(recorder.runs) == 1 and attempts(sessions)[-1].dispatched_at is None
    clock.advance(100)
    assert service.sweep()["dispatched"] == 1
    last = attempts(sessions)[-1]
    service.run(last.id)
    service.record(last.id, success())
    assert service.record(last.id, retryable("a duplicate outcome")) is None  # ignored
    done = execution(sessions)
    assert done.state == "succeeded" and done.finished_at is not None
    assert [a.state for a in attempts(sessions)] == ["failed", "failed", "succeeded"]


def test_exhausted_retries_notify_and_dead_letter(world):
    service, intake, recorder, clock, sessions = world
    report(intake)
    for _ in range(3):
        clock.advance(200)
        attempt = attempts(sessions)[-1]
        service.run(attempt.id)
        service.after_commit(service.record(attempt.id, retryable("down")))
    assert recorder.runs[-1] == (attempts(sessions)[-1].id, 0)  # the notify step is due now
    service.run(attempts(sessions)[-1].id)
    states = [(a.step_kind, a.state) for a in attempts(sessions)]
    assert states == [("retry", "failed"), ("retry", "failed"), ("retry", "failed"), ("notify", "succeeded")]
    assert execution(sessions).state == "dead"
    assert len(recorder.deliveries) == 1


def test_the_sweeper_redispatches_a_lost_message_and_times_out_a_silent_replay(world):
    service, intake, recorder, clock, sessions = world
    report(intake)
    clock.advance(10)
    assert service.sweep()["dispatched"] == 0  # its message was sent 9 s ago: not lost yet
    clock.advance(30)
    assert service.sweep()["dispatched"] == 1  # still unclaimed 30 s after it was due: lost, sent again
    attempt = attempts(sessions)[0]
    service.run(attempt.id)
    clock.advance(31)  # past the 30 s timeout of the Celery replay
    assert service.sweep()["timed_out"] == 1
    assert attempts(sessions)[0].state == "timed_out" and attempts(sessions)[1].state == "scheduled"
    # the late outcome of the timed-out attempt still ends the work
    service.record(attempt.id, success())
    assert execution(sessions).state == "succeeded"
    assert attempts(sessions)[1].state == "cancelled"


def test_the_sweep_is_single_flight(world):
    service, intake, recorder, clock, sessions = world
    other = RecoveryService(service.settings, dispatcher=recorder, clock=clock, actor=store.Actor("other"))
    from workers.storage import leases
    with sessions() as session:
        assert leases.acquire(session, "recovery-sweep", "other", now=clock(), ttl_s=30)
    assert service.sweep() is None
    clock.advance(31)  # the holder died: its lease expires
    assert service.sweep() is not None
    del other


def test_operator_actions_are_audited(world):
    service, intake, recorder, clock, sessions = world
    report(intake, 2)
    who = operator.operator("alice")
    operator.retry(service, 1, actor=who, reason="partner is back")
    assert recorder.runs[-1] == (attempts(sessions, 1)[0].id, 0)
    operator.cancel(service, 2, actor=who)
    assert execution(sessions, 2).state == "cancelled"
    assert attempts(sessions, 2)[0].state == "cancelled"
    operator.retry(service, 2, actor=who)  # a finished execution starts again
    assert execution(sessions, 2).state == "pending" and execution(sessions, 2).run == 2
    with sessions() as session:
        actions = [(a.actor,
                    a.action) for a in session.scalars(select(AuditEntry).where(AuditEntry.actor == "operator:alice"))]
    assert actions == [("operator:alice", "retry_now"), ("operator:alice", "cancelled"),
                       ("operator:alice", "restarted"),
                       ("operator:alice", "scheduled")]


def test_dead_letters_can_be_replayed_and_purged(world):
    service, intake, recorder, clock, sessions = world
    intake.report({**BUG, "compensate": CELERY}, delivery_id="bug")  # without a target it starts nothing
    [compensate] = attempts(sessions)
    service.run(compensate.id)
    service.record(compensate.id, permanent("undo refused"))
    service.run(attempts(sessions)[-1].id)  # notify, then the dead letter
    assert execution(sessions).state == "dead"
    new_id = operator.replay_dead(service, 1, actor=operator.operator("bob"))
    assert execution(sessions, new_id).replay_of == 1
    assert operator.purge_dead(service, actor=operator.operator("bob"), ids=[1]) == [1]
    assert execution(sessions, 1) is None
    with sessions() as session:
        purged = session.scalars(select(AuditEntry).where(AuditEntry.action == "purged")).one()
    assert purged.detail == {"execution_id": 1} and purged.actor == "operator:bob"


def test_a_refused_notification_stays_queued_and_is_retried_until_delivered(database_url, tmp_path, http_server):
    """Never dropped: a channel that answers 503 gets the notification again, later, until it takes it."""
    http_server.script("/hook", 503, 503, 200)
    settings = load_settings(database_url=database_url, broker_url="memory://", breaker_store="database",
                             channels={"ops": {"type": "webhook", "url": http_server.url("/hook")}},
                             replay_targets=REPLAY_TARGETS,
                             plans_files=[_plans(tmp_path, "{kind: notify, channel: ops, level: error}")])
    clock, recorder = ManualClock(), RecordingDispatcher()
    service = RecoveryService(settings, dispatcher=recorder, clock=clock, rng=random.Random(1))
    IntakeService(settings, recovery=service, clock=clock).report({**BUG, "compensate": NOOP}, delivery_id="n1")
    service.run(attempts(session_factory(database_url))[0].id)
    [notification_id] = recorder.deliveries
    assert service.deliver(notification_id) == "refused"
    assert service.sweep()["notifications"] == 0  # backing off: not due yet
    statuses = []
    with session_factory(database_url)() as session:
        for _ in range(3):
            clock.advance(3600)  # past any backoff: the sweeper leases it to a deliverer again
            statuses += [service.deliver(row_id, token) for row_id,
                         token in queue.lease_due(session, now=clock(), limit=10)]
        [row] = queue.list_notifications(session)
        session.refresh(row)
    assert statuses == ["refused", "sent"]
    assert (row.state, row.attempts, len(http_server.requests("/hook"))) == ("sent", 3, 3)
    assert "503" in row.last_error


def test_the_same_alert_within_the_cooldown_is_suppressed(database_url, tmp_path):
    settings = load_settings(database_url=database_url, broker_url="memory://", breaker_store="database",
                             notification_cooldown_s=600, replay_targets=REPLAY_TARGETS,
                             plans_files=[_plans(tmp_path, "{kind: escalate, channel: log, level: critical}")])
    clock, recorder = ManualClock(), RecordingDispatcher()
    service = RecoveryService(settings, dispatcher=recorder, clock=clock, rng=random.Random(1))
    intake = IntakeService(settings, recovery=service, clock=clock)
    for n, wait_s in enumerate((0, 60, 700)):
        clock.advance(wait_s)
        intake.report({**BUG, "compensate": NOOP}, delivery_id=f"c{n}")
        service.run([a for a in attempts(session_factory(database_url)) if a.state == "scheduled"][0].id)
    with session_factory(database_url)() as session:
        states = [row.state for row in reversed(queue.list_notifications(session))]
    assert states == ["pending", "suppressed", "pending"]  # same group: once per 10 minutes
    assert len(recorder.deliveries) == 2


def _plans(tmp_path, step: str):
    path = tmp_path / "notify-plans.yaml"
    # The compensation (a no-op action) is what the plan has to do: without it no execution would start.
    path.write_text(f"plans:\n  - name: bug\n    match: {{category: internal}}\n    steps: [{{kind: compensate}}, "
                    f"{step}, {{kind: dead_letter}}]\n")
    return path


def test_a_plugin_action_target_is_run_through_its_entry_point(world):
    """`noop` is registered by medic's own package under the medic.actions entry point group."""
    service, intake, recorder, clock, sessions = world
    intake.report({**NETWORK, "replay": {"kind": "action", "name": "noop", "params": {"order": 9}}}, delivery_id="act")
    clock.advance(1)
    service.run(attempts(sessions)[0].id)
    assert execution(sessions).state == "succeeded"
    assert attempts(sessions)[0].detail["action"] == "noop"


def test_events_without_a_target_start_nothing_and_signal_their_group_once(world):
    """A storm of one bug: no execution, no dead letter; the group's `new` signal goes out once."""
    service, intake, recorder, clock, sessions = world
    for n in range(40):
        clock.advance(1)
        intake.report(BUG, delivery_id=f"storm-{n}")
    with sessions() as session:
        assert session.scalars(select(Execution)).all() == []
        notifications = queue.list_notifications(session)
    assert [(n.kind, n.state) for n in notifications] == [("group_new", "pending")]
    assert len(recorder.deliveries) == 1 and recorder.runs == []


def test_a_batch_mixes_executions_and_group_signals(world):
    """In one transaction: the event with a target gets its execution, the two without it one signal."""
    from workers.intake.store import Arrival
    service, intake, recorder, clock, sessions = world
    outcomes = intake.store([Arrival("with-target", intake.decide({**NETWORK, "replay": CELERY})),
                             Arrival("bug-1", intake.decide(BUG)), Arrival("bug-2", intake.decide(BUG))])
    assert {k: o.status for k, o in outcomes.items()} == dict.fromkeys(("with-target", "bug-1", "bug-2"), "stored")
    with sessions() as session:
        [started] = session.scalars(select(Execution)).all()
        assert started.occurrence_id == outcomes["with-target"].occurrence_id
        assert len(queue.list_notifications(session)) == 1
