"""Stuck executions on SQLite and PostgreSQL: detection of each kind, the job's requeue and its
escalation (once), the operator's actions (audited, refused when they make no sense), and the
`medic stuck` CLI as a subprocess.

In-process: intake and the recovery service with a recording dispatcher and a test clock; no worker.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from config.errors import InvalidTransition, NotFound
from config.settings import load_settings
from tests.support import services
from tests.support.clock import ManualClock
from tests.support.recovery import RecordingDispatcher
from tests.support.services import medic_env, run_medic
from workers.intake.service import IntakeService
from workers.maintenance.job import JobContext
from workers.maintenance.runner import run_job
from workers.maintenance.stuck import detect, job
from workers.notify.queue import PENDING
from workers.recovery import operator as ops
from workers.recovery.outcomes import retryable
from workers.recovery.service import RecoveryService
from workers.storage.db import session_factory
from workers.storage.models import Attempt, AuditEntry, Execution, Notification

pytestmark = pytest.mark.integration

NETWORK = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused", "service": "partner",
           "replay": {"kind": "celery", "task": "app.flaky", "args": [1], "queue": "app"}}
PLANS = """
plans:
  - name: transient
    match: {category: network}
    steps:
      - {kind: retry, max_attempts: 3, initial_delay_s: 1, backoff_rate: 2, max_delay_s: 4, jitter: none, timeout_s: 30}
      - {kind: notify, channel: log, level: warning}
      - {kind: dead_letter}
"""
STUCK = {"running_grace_s": 10, "undispatched_after_s": 10, "overdue_after_s": 60, "no_attempt_after_s": 60,
         "max_requeues": 2}
ALICE = ops.operator("alice")
USER = "tester"


class QueueRecorder(RecordingDispatcher):
    """Also remembers the queue of each run message (None: medic.recovery)."""

    def run_attempt(self, attempt_id, countdown_s, queue=None):
        self.runs.append((attempt_id, countdown_s, queue))


class World:
    def __init__(self, database_url, tmp_path, redis_url=None):
        redis_url = redis_url or services.redis_url()
        plans = tmp_path / "plans.yaml"
        plans.write_text(PLANS)
        common = {"database_url": database_url, "broker_url": redis_url, "broker_visibility_timeout_s": 20,
                  "recovery_countdown_max_s": 5, "breaker_store": "database"}
        self.settings = load_settings(**common, plans_files=[plans], stuck=STUCK,
                                      replay_targets={"celery_tasks": ["app.*"], "celery_queues": ["app"]})
        self.clock, self.recorder = ManualClock(), QueueRecorder()
        self.service = RecoveryService(self.settings, dispatcher=self.recorder, clock=self.clock, rng=random.Random(1))
        self.job_service = RecoveryService(self.settings, dispatcher=self.recorder, clock=self.clock,
                                           rng=random.Random(2), actor=job.ACTOR)
        self.intake = IntakeService(self.settings, recovery=self.service, clock=self.clock)
        self.sessions = session_factory(database_url)
        self.env = {**medic_env(**common, plans_files=plans, stuck__no_attempt_after_s=1,
                                replay_targets__celery_tasks="app.*", replay_targets__celery_queues="app"),
                    "USER": USER}
        self._reports = 0

    def report(self) -> int:
        self._reports += 1
        outcome = self.intake.report(NETWORK, delivery_id=f"stuck-{self._reports}")
        with self.sessions() as session:
            return session.scalar(select(Execution.id).where(Execution.occurrence_id == outcome.occurrence_id))

    def attempts(self, execution_id) -> list[Attempt]:
        with self.sessions() as session:
            return list(session.scalars(select(Attempt).where(Attempt.execution_id == execution_id)
                                        .order_by(Attempt.id)))

    def execution(self, execution_id) -> Execution:
        with self.sessions() as session:
            return session.get(Execution, execution_id)

    def audit(self, execution_id) -> list[tuple[str, str]]:
        with self.sessions() as session:
            return [(a.actor, a.action) for a in session.scalars(
                select(AuditEntry).where(AuditEntry.execution_id == execution_id).order_by(AuditEntry.id))]

    def claim(self, execution_id) -> int:
        """Run its scheduled attempt: the Celery replay is sent and the attempt stays running."""
        attempt = self.attempts(execution_id)[-1]
        self.service.run(attempt.id)
        return attempt.id

    def set_attempt(self, execution_id, **values):
        with self.sessions() as session:
            session.execute(update(Attempt).where(Attempt.execution_id == execution_id).values(**values))
            session.commit()

    def stuck(self) -> dict[int, str]:
        with self.sessions() as session:
            assert detect.count_stuck(session, self.settings.stuck, self.clock()) == len(
                found := detect.find_stuck(session, self.settings.stuck, self.clock(), limit=100))
        return {item.execution_id: item.kind for item in found}

    def run_job(self, dry_run=False):
        ctx = JobContext(settings=self.settings, sessions=self.sessions, dry_run=dry_run, clock=self.clock)
        return job.handle(ctx, self.job_service)

    def notifications(self) -> list[Notification]:
        with self.sessions() as session:
            return list(session.scalars(select(Notification).where(Notification.kind == "stuck")))


@pytest.fixture
def world(database_url, tmp_path):
    return World(database_url, tmp_path)


def four_stuck(world: World) -> dict[str, int]:
    """One execution stuck in each way, and two that are not (100 s later)."""
    ids = {kind: world.report() for kind in detect.KINDS}
    world.clock.advance(1)
    world.claim(ids["running_past_deadline"])  # deadline in 30 s; its worker never reports
    world.set_attempt(ids["never_sent"], dispatched_at=None)  # the send after the commit failed
    world.set_attempt(ids["no_open_attempt"], state="cancelled")  # lost state
    world.clock.advance(100)
    healthy_running = world.report()
    world.clock.advance(1)
    world.claim(healthy_running)
    world.report()  # due in 1 s
    return ids


def test_each_kind_is_detected_and_requeued_once_per_run(world):
    ids = four_stuck(world)
    assert world.stuck() == {ids[kind]: kind for kind in detect.KINDS}

    dry = world.run_job(dry_run=True)
    assert dry.counts == {"stuck": 4, "requeue": 4} and "dry run" in dry.summary
    assert world.stuck() == {ids[kind]: kind for kind in detect.KINDS}  # nothing changed

    sent_before = len(world.recorder.runs)
    result = world.run_job()
    assert result.counts == {"stuck": 4, "requeued": 4} and not result.failed, result.summary
    assert world.stuck() == {}
    running = world.attempts(ids["running_past_deadline"])
    assert [(a.state, a.number) for a in running] == [("timed_out", 1), ("scheduled", 2)]
    assert running[0].error.startswith("timed out by maintenance:stuck")
    for kind in ("never_sent", "unclaimed"):
        [attempt] = world.attempts(ids[kind])
        assert attempt.state == "scheduled" and attempt.scheduled_for.replace(tzinfo=UTC) == world.clock()
    orphan = world.attempts(ids["no_open_attempt"])
    assert [(a.state, a.number) for a in orphan] == [("cancelled", 1), ("scheduled", 2)]
    sent = {attempt_id: countdown_s for attempt_id, countdown_s, _ in world.recorder.runs[sent_before:]}
    # the timed-out replay's next attempt waits as its plan says (2 s); the others run now
    assert sent == {world.attempts(ids[kind])[-1].id: 2.0 if kind == "running_past_deadline" else 0
                    for kind in detect.KINDS}
    for kind, execution_id in ids.items():
        assert ("maintenance:stuck", "stuck_requeue") in world.audit(execution_id), kind
    with world.sessions() as session:
        notes = session.scalars(select(AuditEntry).where(AuditEntry.action == "stuck_requeue")).all()
    assert {(n.detail["kind"], n.detail["requeue"]) for n in notes} == {(kind, 1) for kind in detect.KINDS}


def test_requeued_until_the_limit_then_escalated_once(world):
    execution_id = world.report()  # its message was sent, nobody ever claims it
    outcomes = []
    for _ in range(5):
        world.clock.advance(61)
        outcomes.append(world.run_job().counts)
    assert outcomes == [{"stuck": 1, "requeued": 1}] * 2 + [{"stuck": 1, "escalated": 1}] + [{"stuck": 1,
                                                                                              "left": 1}] * 2
    [notification] = world.notifications()
    assert (notification.level, notification.channel, notification.execution_id) == ("critical", "log", execution_id)
    assert notification.state == PENDING and notification.id in world.recorder.deliveries
    assert "stuck" in notification.subject and "requeued 2 time(s)" in notification.body["fields"]["executions"]
    assert [a for a in world.audit(execution_id) if a[1].startswith("stuck_")] == [
        ("maintenance:stuck", "stuck_requeue")] * 2 + [("maintenance:stuck", "stuck_escalated")]

    ops.requeue(world.service, execution_id, actor=ALICE, reason="queue drained")  # an operator takes it in hand
    world.clock.advance(61)
    assert world.run_job().counts == {"stuck": 1, "requeued": 1}
    assert len(world.notifications()) == 1


def test_a_broken_execution_is_reported_and_the_others_still_requeued(world):
    broken, fine = world.report(), world.report()
    with world.sessions() as session:
        session.execute(update(Execution).where(Execution.id == broken).values(plan={"steps": "not a list"}))
        session.commit()
    world.set_attempt(broken, state="cancelled")
    world.set_attempt(fine, state="cancelled")
    world.clock.advance(61)
    result = world.run_job()
    assert result.failed and result.counts == {"stuck": 2, "requeued": 1, "errors": 1}
    assert f"execution {broken}: ValidationError" in result.summary
    assert world.stuck() == {broken: "no_open_attempt"}


def test_the_job_through_the_runner_records_its_run(world):
    outcome = run_job("stuck", world.settings, trigger="cli", clock=world.clock)
    assert (outcome.run.status, outcome.run.summary) == ("succeeded", "no stuck executions")


def test_force_reset_and_complete(world):
    waiting = world.report()
    world.clock.advance(2)
    first = world.claim(waiting)
    world.service.record(first, retryable("partner down"))  # attempt 2 of step 1 scheduled

    ops.force(world.service, waiting, actor=ALICE, reason="partner is gone for good")
    assert [(a.step_index, a.number, a.state) for a in world.attempts(waiting)] == [
        (0, 1, "failed"), (0, 2, "cancelled"), (1, 1, "scheduled")]
    assert world.execution(waiting).step_index == 1
    assert world.recorder.runs[-1][:2] == (world.attempts(waiting)[-1].id, 0)
    assert world.audit(waiting)[-2:] == [("operator:alice", "stuck_force"), ("operator:alice", "scheduled")]

    ops.reset(world.service, waiting, actor=ALICE)
    execution = world.execution(waiting)
    assert (execution.state, execution.run, execution.step_index) == ("pending", 2, 0)
    assert [(a.run, a.step_index, a.state) for a in world.attempts(waiting)][-2:] == [(1, 1, "cancelled"),
                                                                                      (2, 0, "scheduled")]
    assert world.audit(waiting)[-2:] == [("operator:alice", "stuck_reset"), ("operator:alice", "scheduled")]

    for _ in range(2):  # past step 2 (notify) and 3 (dead_letter): the plan's end
        ops.force(world.service, waiting, actor=ALICE)
    assert world.execution(waiting).state == "dead"

    running = world.report()
    world.clock.advance(2)
    world.claim(running)
    with pytest.raises(InvalidTransition, match="needs a reason"):
        ops.complete(world.service, running, actor=ALICE, reason=" ")
    ops.complete(world.service, running, actor=ALICE, reason="order re-sent by hand")
    execution = world.execution(running)
    assert (execution.state, execution.reason) == ("succeeded", "order re-sent by hand")
    assert [a.state for a in world.attempts(running)] == ["cancelled"]
    assert world.audit(running)[-1] == ("operator:alice", "stuck_complete")
    for action in (ops.force, ops.reset, ops.requeue):
        with pytest.raises(InvalidTransition, match="is succeeded: a finished execution cannot be"):
            action(world.service, running, actor=ALICE)
    with pytest.raises(NotFound, match="no execution 999"):
        ops.force(world.service, 999, actor=ALICE)


def test_reassign_routes_every_later_run_message(world):
    execution_id = world.report()
    world.clock.advance(2)  # due; its message went to medic.recovery, which nobody consumes
    with pytest.raises(InvalidTransition, match="not a recovery queue"):
        ops.reassign(world.service, execution_id, "app", actor=ALICE)

    ops.reassign(world.service, execution_id, "medic.recovery.special", actor=ALICE, reason="own pool")
    attempt = world.attempts(execution_id)[-1]
    assert world.recorder.runs[-1] == (attempt.id, 0, "medic.recovery.special")
    assert world.execution(execution_id).queue == "medic.recovery.special"
    assert world.audit(execution_id)[-1] == ("operator:alice", "stuck_reassign")

    world.service.run(attempt.id)
    world.service.after_commit(world.service.record(attempt.id, retryable("down")))
    assert world.recorder.runs[-1] == (world.attempts(execution_id)[-1].id, 2.0, "medic.recovery.special")
    world.clock.advance(120)  # lost again: the sweeper resends to the execution's queue
    world.service.sweep()
    assert world.recorder.runs[-1] == (world.attempts(execution_id)[-1].id, 0, "medic.recovery.special")

    ops.reassign(world.service, execution_id, "medic.recovery", actor=ALICE)
    assert world.execution(execution_id).queue is None


def test_operator_requeue_of_a_running_attempt(world):
    execution_id = world.report()
    world.clock.advance(2)
    first = world.claim(execution_id)
    done = ops.requeue(world.service, execution_id, actor=ALICE, reason="worker host is gone")
    assert done.how == ops.TIMED_OUT
    assert [(a.id, a.state) for a in world.attempts(execution_id)][0] == (first, "timed_out")
    assert world.audit(execution_id)[-2:] == [("operator:alice", "stuck_requeue"), ("operator:alice", "scheduled")]
    stale = ops.requeue(world.job_service, execution_id, actor=job.ACTOR, expect=ops.Situation(first, "running"))
    assert stale.how == ops.MOVED  # the job acts only on what it saw


def test_the_cli(world, redis_url):
    stuck_id, finished = world.report(), world.report()
    world.set_attempt(stuck_id, state="cancelled")
    ops.complete(world.service, finished, actor=ALICE, reason="done")
    world.clock.advance(5)
    with world.sessions() as session:  # the CLI runs on real time: make it look unchanged for a while
        session.execute(update(Execution).where(Execution.id == stuck_id)
                        .values(updated_at=datetime.now(UTC) - timedelta(seconds=30)))
        session.commit()

    with ThreadPoolExecutor(2) as pool:  # each command spends a second or two importing
        listed, table, forced, unknown = pool.map(lambda args: run_medic(world.env, *args), [
            ("stuck", "list", "--json"), ("stuck", "list"), ("stuck", "force", str(finished)),
            ("stuck", "requeue", "999")])
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["execution_id"], row["kind"], row["action"], row["requeues"]) == (stuck_id, "no_open_attempt",
                                                                                  "requeue", 0)
    assert "no_open_attempt" in table.stdout and "requeue 1 of 3" in table.stdout
    assert forced.returncode == 2 and "is succeeded: a finished execution cannot be forced" in forced.stderr
    assert unknown.returncode == 4 and "no execution 999" in unknown.stderr

    requeued = run_medic(world.env, "stuck", "requeue", str(stuck_id), "--reason", "looked at it")
    assert requeued.returncode == 0, requeued.stderr
    assert "requeued (its plan resumed) by operator:tester" in requeued.stdout and "runs now" in requeued.stdout
    completed = run_medic(world.env, "stuck", "complete", str(stuck_id), "--reason", "fixed by hand")
    assert completed.returncode == 0 and "→ succeeded" in completed.stdout, completed.stderr
    assert world.audit(stuck_id)[-3:] == [(f"operator:{USER}", "stuck_requeue"), (f"operator:{USER}", "scheduled"),
                                          (f"operator:{USER}", "stuck_complete")]
    assert world.stuck() == {}
