"""The health job, its alerts and `medic health|alerts`, on SQLite and PostgreSQL with Redis as broker.

Rows are seeded in-process with known times; the job runs through the maintenance runner with a
clock the test moves; the CLI runs as a subprocess against the same database.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from kombu import Connection
from sqlalchemy import select

from config.settings import load_settings
from tests.support.clock import ManualClock
from tests.support.services import medic_env, run_medic, run_medic_side_by_side
from workers.breakers import BreakerConfig, breakers_from_settings
from workers.maintenance.health.metrics import collect
from workers.maintenance.health.queues import queue_depths
from workers.maintenance.runner import run_job
from workers.storage.db import session_factory
from workers.storage.models import (
    Alert,
    Attempt,
    Backup,
    ErrorGroup,
    Execution,
    HealthSnapshot,
    Notification,
    Occurrence,
)

pytestmark = pytest.mark.integration

USER = "tester"
UNREACHABLE_BROKER = "redis://:s3cret-pw@127.0.0.1:1/0"


class World:
    def __init__(self, database_url: str, broker_url: str, **settings):
        self.url = database_url
        self.settings = load_settings(database_url=database_url, broker_url=broker_url, breaker_store="database",
                                      **settings)
        self.sessions = session_factory(database_url)
        self.clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
        self.env = {**medic_env(database_url=database_url, broker_url=broker_url, breaker_store="database", **settings),
                    "USER": USER}
        self.breakers = breakers_from_settings(self.settings, self.sessions, lambda service: BreakerConfig())

    def run(self) -> dict:
        outcome = run_job("health", self.settings, trigger="cli", clock=self.clock)
        assert outcome.run.status == "succeeded", outcome.run.error
        return outcome.result.counts

    def ago(self, **delta) -> datetime:
        return self.clock.now - timedelta(**delta)

    def seed_backup(self, *, hours_ago: float, verification: str = "ok", deleted: bool = False) -> None:
        with self.sessions() as session:
            at = self.ago(hours=hours_ago)
            session.add(Backup(name=f"medic-{at:%Y%m%d%H%M%S}-{verification}-{deleted}.tar.gz", path="/backups/x",
                               created_at=at, database_kind="sqlite", size_bytes=1000, sha256="0" * 64, manifest={},
                               verification=verification, verified_at=at, deleted_at=at if deleted else None))
            session.commit()

    def alerts(self) -> list[Alert]:
        with self.sessions() as session:
            return list(session.scalars(select(Alert).order_by(Alert.id)))

    def notifications(self) -> list[Notification]:
        with self.sessions() as session:
            return list(session.scalars(select(Notification).where(Notification.kind == "alert")
                                        .order_by(Notification.id)))

    def snapshots(self) -> list[HealthSnapshot]:
        with self.sessions() as session:
            return list(session.scalars(select(HealthSnapshot).order_by(HealthSnapshot.id)))


def seed_errors(world: World) -> None:
    """Occurrences in and out of the window, finished executions, a dead letter and a stuck one."""
    now = world.clock.now
    with world.sessions() as session:
        group = ErrorGroup(fingerprint="f1", error_type="ConnectionError", message_template="refused",
                           service="partner",
                           operation=None, status="open", occurrence_count=5, first_seen=now, last_seen=now,
                           category="network", severity="high", retryable=True, confidence=0.9, rule_id="t")
        session.add(group)
        session.flush()
        received = [("network", 10), ("network", 100), ("timeout", 200), ("network", 400), ("timeout", 3600)]
        occurrences = []
        for number, (category, seconds_ago) in enumerate(received):
            at = now - timedelta(seconds=seconds_ago)
            occurrences.append(Occurrence(group_id=group.id, delivery_id=f"d{number}", idempotency_key=None,
                                          received_at=at, occurred_at=at, source="app", message="refused", event={},
                                          category=category, severity="high", retryable=True, confidence=0.9,
                                          rule_id="t"))
        session.add_all(occurrences)
        session.flush()
        # (state, minutes since the last change, finished?, first step): two outcomes in the window, one
        # before it; a dead one that only escalated (an event without a target, from before intake
        # stopped starting those) tried nothing: neither an outcome nor a dead letter.
        for state, minutes, finished, kind in (("succeeded", 1, True, "retry"), ("dead", 2, True, "retry"),
                                               ("failed", 30, True, "retry"), ("cancelled", 1, True, "retry"),
                                               ("waiting", 60, False, "retry"), ("dead", 2, True, "escalate")):
            at = now - timedelta(minutes=minutes)
            execution = Execution(group_id=group.id, occurrence_id=occurrences[0].id, plan_name="p", plan={},
                                  service="partner", category="network", state=state, created_at=at, updated_at=at,
                                  finished_at=at if finished else None)
            session.add(execution)
            session.flush()
            if finished:
                session.add(Attempt(execution_id=execution.id, step_index=0, step_kind=kind, number=1, state="failed",
                                    scheduled_for=at, finished_at=at))
        session.commit()


def publish(broker_url: str, queue: str, count: int) -> None:
    with Connection(broker_url) as connection:
        simple = connection.SimpleQueue(queue)
        for number in range(count):
            simple.put({"n": number})
        simple.close()


@pytest.fixture
def world(database_url, redis_url):
    return World(database_url, redis_url)


def test_a_snapshot_records_every_metric(world, redis_url):
    seed_errors(world)
    world.seed_backup(hours_ago=5)
    world.seed_backup(hours_ago=1, verification="failed")
    world.seed_backup(hours_ago=2, deleted=True)
    world.breakers.force_open("partner", actor="operator:test")
    publish(redis_url, "medic.errors", 3)

    counts = world.run()

    [snapshot] = world.snapshots()
    metrics = snapshot.metrics
    assert metrics["queue_depths"] == {"medic.errors": 3, "medic.recovery": 0, "medic.maintenance": 0}
    assert metrics["errors_in_window"] == {"network": 2, "timeout": 1}
    assert metrics["error_rate_per_min"] == {"network": 0.4, "timeout": 0.2}
    assert (metrics["executions_finished"], metrics["executions_succeeded"], metrics["recovery_success_rate"]) == (2, 1,
                                                                                                                   0.5)
    assert metrics["open_breakers"] == {"partner": "forced_open"}
    assert metrics["stuck_executions"] == 1
    assert metrics["dead_letters"] == 1
    assert metrics["last_good_backup_age_h"] == 5.0
    assert datetime.fromisoformat(metrics["last_good_backup_at"]) == world.ago(hours=5)
    assert metrics["database_size_bytes"] > 0
    assert metrics["problems"] == {}
    assert 0 < metrics["duration_ms"] < 1000
    assert snapshot.status == "degraded"
    reasons = {(r["metric"], r["subject"]) for r in snapshot.reasons["items"]}
    assert reasons == {("open_breakers", "partner"), ("stuck_executions", None)}  # 2 finished: too few to judge
    assert counts["alerts_opened"] == 2


def test_an_alert_opens_once_is_acknowledged_and_resolves(world):
    world.seed_backup(hours_ago=1)
    world.breakers.force_open("partner", actor="operator:test")

    world.run()
    [alert] = world.alerts()
    assert (alert.rule, alert.subject, alert.state, alert.level) == ("breaker_open", "partner", "open", "warning")
    [opened] = world.notifications()
    assert (opened.state, opened.level, opened.subject, opened.channel) == (
        "pending", "warning", "alert breaker_open: partner", "log")
    assert opened.body["fields"]["alert"] == alert.id

    world.clock.advance(60)
    world.run()
    [again] = world.alerts()
    assert (again.id, again.state, again.opened_at) == (alert.id, "open", alert.opened_at)
    assert again.last_seen_at > alert.last_seen_at
    assert len(world.notifications()) == 1

    acked, missing, listed = run_medic_side_by_side(world.env,
                                                    ("alerts", "ack", str(alert.id), "--reason",
                                                     "partner is migrating"),
                                          ("alerts", "ack", "999"), ("alerts", "list", "--json"))
    assert acked.returncode == 0, acked.stderr
    assert f"alert {alert.id} (breaker_open: partner) acknowledged by operator:{USER}" in acked.stdout
    assert missing.returncode == 4 and "no alert 999" in missing.stderr
    assert [(a["id"], a["rule"]) for a in json.loads(listed.stdout)] == [(alert.id, "breaker_open")]
    [acknowledged] = world.alerts()
    assert (acknowledged.state, acknowledged.acknowledged_by, acknowledged.acknowledged_reason) == (
        "acknowledged", f"operator:{USER}", "partner is migrating")

    world.clock.advance(60)
    world.run()
    assert world.alerts()[0].state == "acknowledged"
    assert len(world.notifications()) == 1

    world.breakers.close("partner", actor="operator:test")
    world.clock.advance(60)
    counts = world.run()
    assert counts["alerts_resolved"] == 1
    [resolved] = world.alerts()
    assert (resolved.state, resolved.resolved_at) == ("resolved", world.clock.now)
    first, closed = world.notifications()
    assert (closed.state, closed.level, closed.subject) == ("pending", "info", "resolved breaker_open: partner")

    late, resolved_list = run_medic_side_by_side(world.env, ("alerts", "ack", str(alert.id)),
                                       ("alerts", "list", "--state", "resolved", "--json"))
    assert late.returncode == 2 and "was resolved" in late.stderr
    assert [(a["id"], a["state"]) for a in json.loads(resolved_list.stdout)] == [(alert.id, "resolved")]

    # It fires again within the cooldown: a new alert, its notification suppressed.
    world.breakers.force_open("partner", actor="operator:test")
    world.clock.advance(60)
    world.run()
    reopened = world.alerts()[-1]
    assert (reopened.id != alert.id, reopened.state) == (True, "open")
    assert world.notifications()[-1].state == "suppressed"


def test_medic_health_prints_the_latest_snapshot(world, redis_url):
    empty, = run_medic_side_by_side(world.env, ("health", "--json"))
    assert empty.returncode == 4 and "no health snapshot yet" in empty.stderr

    world.seed_backup(hours_ago=1)
    world.clock.now = datetime.now(UTC)
    world.run()
    healthy = run_medic(world.env, "health", "--json")
    assert healthy.returncode == 0, healthy.stderr
    data = json.loads(healthy.stdout)
    assert set(data) == {"status", "taken_at", "age_s", "stored", "stale", "reasons", "metrics"}
    assert (data["status"], data["stored"], data["stale"], data["reasons"]) == ("healthy", True, False, [])
    assert set(data["metrics"]) >= {"queue_depths", "error_rate_per_min", "recovery_success_rate", "open_breakers",
                                    "stuck_executions", "dead_letters", "last_good_backup_age_h", "database_size_bytes"}

    world.breakers.force_open("partner", actor="operator:test")
    world.clock.now = datetime.now(UTC)
    world.run()
    degraded, fresh, stale = run_medic_side_by_side(world.env, ("health", "--json"), ("health", "--now"),
                                          ({"MEDIC_HEALTH__STALE_AFTER_S": "0.001"}, "health", "--json"))
    assert degraded.returncode == 1
    data = json.loads(degraded.stdout)
    assert data["status"] == "degraded"
    assert [(r["metric"], r["subject"], r["level"]) for r in data["reasons"]] == [("open_breakers", "partner",
                                                                                   "degraded")]
    assert fresh.returncode == 1
    assert "status  degraded" in fresh.stdout and "(not stored)" in fresh.stdout
    assert "circuit breaker of partner is forced open" in fresh.stdout
    assert len(world.snapshots()) == 2  # --now stores nothing
    assert stale.returncode == 1 and json.loads(stale.stdout)["stale"] is True


def test_an_unreachable_broker_gives_null_depths_and_a_reason(database_url):
    world = World(database_url, UNREACHABLE_BROKER)
    world.seed_backup(hours_ago=1)
    world.run()
    [snapshot] = world.snapshots()
    assert snapshot.metrics["queue_depths"] == {"medic.errors": None, "medic.recovery": None, "medic.maintenance": None}
    assert snapshot.metrics["problems"]["broker"].startswith("broker redis://:***@127.0.0.1:1/0 unreachable: ")
    assert snapshot.status == "unhealthy"
    assert [(a.rule, a.subject, a.level) for a in world.alerts()] == [("broker_unreachable", "broker", "error")]
    now = run_medic(world.env, "health", "--now")
    assert now.returncode == 1 and "status  unhealthy" in now.stdout and "Traceback" not in now.stderr
    assert "s3cret" not in now.stdout + json.dumps(snapshot.metrics) + json.dumps(snapshot.reasons)


def test_unreachable_database_is_critical_and_masked(redis_url):
    url = "postgresql+psycopg://medic:s3cret@127.0.0.1:1/medic"
    settings = load_settings(database_url=url, broker_url=redis_url, breaker_store="database")
    metrics = collect(settings, session_factory(url), now=datetime.now(UTC))
    assert set(metrics.problems) == {"database", "breakers"}
    assert metrics.dead_letters is None and metrics.queue_depths["medic.errors"] == 0
    result = run_medic(medic_env(database_url=url, broker_url=redis_url), "health", "--now", "--json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "critical" and "s3cret" not in result.stdout


def test_queue_depth_on_the_embedded_broker(tmp_path):
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    publish(url, "medic.recovery", 2)
    assert queue_depths(url, timeout_s=2).depths == {"medic.errors": 0, "medic.recovery": 2, "medic.maintenance": 0}
