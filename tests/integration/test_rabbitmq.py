"""The core end-to-end tests again, with RabbitMQ as the broker instead of Redis.

Every process of a test uses one RabbitMQ vhost of this module (tests.support.rabbitmq): medic's
worker and beat (beat on its schedule file in the test's data dir, breakers in the database, as
medic chooses when the broker is not Redis), the test app's worker and the app's plain Celery
client. The test app still counts its calls in the Redis test db. The Redis versions of these
tests are in test_intake_worker.py and test_recovery_celery.py; their helpers are reused here.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from celery import Celery
from kombu import Connection, Exchange, Producer, Queue

from config.settings import load_settings
from tests.integration.test_intake_worker import event, medic_json, send
from tests.integration.test_recovery_celery import EARLY_S, SLACK_S, backoff, check_task_ids, single_execution
from tests.support import rabbitmq, recovery, services, testapp
from tests.support.recovery import celery_target, make_event, plan, report, retry_step, write_plans
from tests.support.services import count_rows, medic_env, start_worker, wait_for
from workers.maintenance.health.queues import queue_depths
from workers.maintenance.runner import run_job

pytestmark = pytest.mark.integration


@pytest.fixture
def broker_url(rabbitmq_url):
    return rabbitmq_url


@pytest.fixture
def client(broker_url):
    """An app's own Celery client on the vhost, as in tests/conftest.py."""
    app = Celery("some-app", broker=broker_url)
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)
    yield app
    app.close()


def test_settings_on_rabbitmq_choose_the_file_beat_and_database_breakers(broker_url, tmp_path):
    settings = load_settings(broker_url=broker_url, database_url=services.pg_url("medic"), data_dir=str(tmp_path))
    assert not settings.uses_redbeat and settings.beat_schedule_file == tmp_path.resolve() / "beat-schedule.json"
    assert not settings.breakers_in_redis and not settings.embedded


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


@pytest.fixture
def db_url(pg_database):
    return services.pg_url(pg_database)


@pytest.fixture
def worker(tmp_path, db_url, broker_url):
    env = medic_env(database_url=db_url, broker_url=broker_url, broker_visibility_timeout_s=10, log_level="DEBUG",
                    data_dir=tmp_path / "data")
    process = start_worker(env, tmp_path / "worker.log")
    yield process
    process.terminate()


def test_reported_errors_are_stored_classified_and_grouped_and_bad_payloads_rejected(client, worker, db_url,
                                                                                      broker_url):
    send(client, event(1))
    send(client, event(2))  # same error, other numbers: same group
    send(client, {"error_type": "requests.exceptions.HTTPError", "message": "429 Client Error: Too Many Requests",
                  "service": "github", "http_status": 429, "context": {"api_key": "sk_live_abcdefghijklmnop1234"}})
    send(client, {"message": "no type", "service": "x"})
    send(client, event(context={"blob": "x" * 300_000}))
    with Connection(broker_url) as conn:  # a body that is not JSON at all
        exchange = Exchange("medic.errors", type="direct")
        producer = Producer(conn, exchange=exchange, routing_key="medic.errors")
        producer.publish(b"{not json", content_type="application/json", content_encoding="utf-8",
                         headers={"task": "medic.report", "id": str(uuid.uuid4())},
                         declare=[Queue("medic.errors", exchange, routing_key="medic.errors")])
    client.send_task("medic.reprot", args=[event()], queue="medic.errors")
    send(client, event(99, service="after-the-bad-ones"))

    wait_for(lambda: count_rows(db_url, "occurrences") == 4, timeout_s=30, what="4 occurrences")
    wait_for(lambda: count_rows(db_url, "rejected_events") == 4, timeout_s=30, what="4 rejected events")

    groups = {g["service"]: g for g in medic_json(db_url, "errors", "list")}
    assert groups["orders-db"]["count"] == 2
    assert groups["orders-db"]["category"] == "conflict" and groups["orders-db"]["retryable"] is True
    assert groups["github"]["category"] == "rate_limit"
    assert groups["after-the-bad-ones"]["count"] == 1
    shown = medic_json(db_url, "errors", "show", str(groups["github"]["id"]))
    assert shown["occurrences"][0]["event"]["context"]["api_key"] == "***"
    assert "sk_live_abcdefghijklmnop1234" not in worker.output()
    reasons = " | ".join(r["reason"] for r in medic_json(db_url, "rejected", "list"))
    for expected in ("error_type: Field required", "MEDIC_MAX_EVENT_BYTES", "undecodable message",
                     "unknown task 'medic.reprot'"):
        assert expected in reasons
    assert worker.proc.poll() is None


def test_flaky_task_is_replayed_until_it_succeeds_spaced_by_the_policy(medic, client, redis_url, tmp_path):
    initial, rate, cap = 0.5, 3.0, 2.0  # waits 0.5, 1.5, 2.0 (capped)
    plans = write_plans(tmp_path, [plan("celery-flaky", retry_step(5, initial, rate, cap, "none", timeout_s=13),
                                        {"kind": "dead_letter"})])
    medic.configure(plans_file=plans)
    medic.start()

    reported_at = time.time()
    report(client, make_event(celery_target("testapp.flaky", "k1", 2)))
    execution = single_execution(medic.db_url)
    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=30)
    time.sleep(0.5)  # a duplicate run would show up by now

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    attempts = recovery.attempts(medic.db_url, done["id"])
    assert [(a["step_kind"], a["number"], a["state"], a["outcome"]) for a in attempts] == [
        ("retry", 1, "failed", "retryable"), ("retry", 2, "failed", "retryable"), ("retry", 3, "succeeded", "success"),
    ], recovery.describe(medic.db_url)
    assert testapp.calls("k1", redis_url) == 3 and testapp.effects("k1", redis_url) == 1
    check_task_ids("k1", redis_url, done["id"], attempts)

    times = testapp.times("k1", redis_url)
    waits = [times[0] - reported_at, times[1] - times[0], times[2] - times[1]]
    for n, wait in enumerate(waits, start=1):
        expected = backoff(n, initial, rate, cap)
        assert expected - EARLY_S <= wait <= expected + SLACK_S, f"attempt {n} waited {wait:.2f}s, policy {expected}s: {waits}"
    assert (tmp_path / "data" / "beat-schedule.json").exists()  # beat on its file, not RedBeat


def test_exhausted_retries_go_to_the_fallback_target_which_succeeds_once(medic, client, redis_url, tmp_path):
    plans = write_plans(tmp_path, [plan("celery-fallback", retry_step(3, 0.2, 2, 0.5, "none", timeout_s=13),
                                        {"kind": "fallback", "timeout_s": 13},
                                        {"kind": "notify", "channel": "log", "level": "warning"},
                                        {"kind": "dead_letter"})])
    medic.configure(plans_file=plans)
    medic.start()

    report(client, make_event(celery_target("testapp.always_fails", "k-main"),
                              fallback=celery_target("testapp.flaky", "k-fallback", 0)))
    execution = single_execution(medic.db_url)
    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=30)
    time.sleep(0.5)

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    attempts = recovery.attempts(medic.db_url, done["id"])
    assert [(a["step_kind"], a["number"], a["outcome"]) for a in attempts] == [
        ("retry", 1, "retryable"), ("retry", 2, "retryable"), ("retry", 3, "retryable"), ("fallback", 1, "success"),
    ], recovery.describe(medic.db_url)
    assert testapp.calls("k-main", redis_url) == 3 and testapp.effects("k-main", redis_url) == 0
    assert testapp.calls("k-fallback", redis_url) == 1 and testapp.effects("k-fallback", redis_url) == 1
    check_task_ids("k-fallback", redis_url, done["id"], attempts[3:])


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
