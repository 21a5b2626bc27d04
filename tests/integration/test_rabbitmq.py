"""What is particular to RabbitMQ as the broker.

The core intake and recovery end-to-end tests run on both brokers where they are
(test_intake_worker.py, test_recovery_celery.py: parametrized with BROKERS). Here: medic's
choices without Redis, queue depths by passive declaration, the maintenance jobs that read the
broker, and replays into an app queue RabbitMQ would refuse to declare again. Every process of a
test uses this module's vhost (tests.support.rabbitmq); the test app counts its calls in Redis.
"""

from __future__ import annotations

import json

import pytest
from kombu import Connection, Exchange, Producer, Queue

from config.settings import load_settings
from config.urls import is_sqlite_url
from tests.integration.test_recovery_celery import single_execution
from tests.support import rabbitmq, recovery, services, testapp
from tests.support.recovery import celery_target, make_event, plan, report, retry_step, write_plans
from workers.maintenance.health.queues import queue_depths
from workers.maintenance.runner import run_job

pytestmark = pytest.mark.integration


@pytest.fixture
def broker_url(rabbitmq_url):
    return rabbitmq_url


def test_settings_on_rabbitmq_choose_the_file_beat_and_database_breakers(broker_url, tmp_path):
    settings = load_settings(broker_url=broker_url, database_url=services.pg_url("medic"), data_dir=str(tmp_path))
    assert not settings.uses_redbeat and settings.beat_schedule_file == tmp_path.resolve() / "beat-schedule.json"
    assert not settings.breakers_in_redis and not is_sqlite_url(settings.database_url)


def publish(broker_url: str, queue_name: str, count: int) -> None:
    with Connection(broker_url) as conn:
        queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)
        producer = Producer(conn)
        for n in range(count):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=queue_name, declare=[queue],
                             serializer="json")


def test_queue_depths_count_waiting_messages_and_create_no_queue(broker_url, rabbitmq_vhost):
    publish(broker_url, "medic.recovery", 3)

    depths = queue_depths(broker_url, timeout_s=3)

    assert depths.problem is None
    assert depths.depths == {"medic.errors": 0, "medic.recovery": 3, "medic.maintenance": 0}
    assert rabbitmq.queues(rabbitmq_vhost) == {"medic.recovery": 3}  # read, not consumed; nothing declared


def test_queue_depths_of_an_unknown_vhost_are_null_with_a_masked_reason(rabbitmq_vhost):
    depths = queue_depths(rabbitmq.amqp_url(rabbitmq_vhost + "-missing"), timeout_s=3)
    assert depths.depths == {"medic.errors": None, "medic.recovery": None, "medic.maintenance": None}
    assert "unreachable" in depths.problem and "guest:***@" in depths.problem


def test_the_maintenance_jobs_that_read_the_broker_run_on_rabbitmq(broker_url, rabbitmq_vhost, sqlite_url, tmp_path):
    publish(broker_url, "medic.errors", 2)
    # A broker retention that would be too short for the embedded broker: nothing is pruned from RabbitMQ.
    settings = load_settings(database_url=sqlite_url, broker_url=broker_url, data_dir=str(tmp_path),
                             cleanup={"broker_delivered_retention_s": 30})

    health = run_job("health", settings, trigger="cli")
    cleanup = run_job("cleanup", settings, trigger="cli")

    assert health.run.status == "succeeded", health.run.error
    [depths] = recovery.rows(sqlite_url, "SELECT metrics FROM health_snapshots")
    metrics = depths["metrics"] if isinstance(depths["metrics"], dict) else json.loads(depths["metrics"])
    assert metrics["queue_depths"] == {"medic.errors": 2, "medic.recovery": 0, "medic.maintenance": 0}
    assert "broker" not in metrics["problems"]
    assert cleanup.run.status == "succeeded", cleanup.run.error
    assert rabbitmq.queues(rabbitmq_vhost) == {"medic.errors": 2}


def test_a_task_on_an_app_queue_declared_its_own_way_is_replayed(medic, client, redis_url, tmp_path, rabbitmq_vhost):
    """The app declared its queue as a quorum queue: medic must publish to it, not declare it again its way
    (RabbitMQ refuses that with 406 PRECONDITION_FAILED, and every attempt failed to send)."""
    plans = write_plans(tmp_path, [plan("celery-quorum", retry_step(3, 0.2, 2, 0.5, "none", timeout_s=13),
                                        {"kind": "dead_letter"})])
    medic.testapp_queue_type = "quorum"
    medic.configure(plans_file=plans)
    medic.start()

    report(client, make_event(celery_target("testapp.flaky", "k-quorum", 1)))
    execution = single_execution(medic.db_url)
    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=30)

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    attempts = recovery.attempts(medic.db_url, done["id"])
    assert [(a["number"], a["outcome"]) for a in attempts] == [(1, "retryable"), (2, "success")]
    assert "could not send" not in (attempts[0]["error"] or "")
    assert testapp.calls("k-quorum", redis_url) == 2 and testapp.effects("k-quorum", redis_url) == 1
