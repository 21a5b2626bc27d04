"""Intake end to end on Redis + PostgreSQL with real `celery worker` processes.

The client is a plain Celery app that does not import medic: it sends `medic.report` by name.
"""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from kombu import Connection, Exchange, Producer, Queue

from tests.integration.conftest import BROKERS
from tests.support import services
from tests.support.proxy import CuttableProxy
from tests.support.services import count_rows, medic_env, run_medic, start_worker, wait_for

pytestmark = pytest.mark.integration


def event(n: int = 1, **fields) -> dict:
    base = {"error_type": "psycopg.errors.DeadlockDetected", "message": f"deadlock detected: process {n} waits",
            "service": "orders-db", "operation": "settle", "code": "40P01"}
    return {**base, **fields}


def send(client, payload, **options) -> str:
    return client.send_task("medic.report", args=[payload], queue="medic.errors", **options).id


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


def medic_json(db_url: str, *args: str):
    result = run_medic(medic_env(database_url=db_url), *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@BROKERS
def test_reported_errors_are_stored_classified_and_grouped(client, worker, db_url):
    send(client, event(1))
    send(client, event(2))  # same error, other numbers: same group
    send(client, {"error_type": "requests.exceptions.HTTPError", "message": "429 Client Error: Too Many Requests",
                  "service": "github", "http_status": 429, "context": {"api_key": "sk_live_abcdefghijklmnop1234"}})
    wait_for(lambda: count_rows(db_url, "occurrences") == 3, timeout_s=30, what="3 occurrences")

    groups = {g["service"]: g for g in medic_json(db_url, "errors", "list")}
    assert groups["orders-db"]["count"] == 2
    assert groups["orders-db"]["category"] == "conflict" and groups["orders-db"]["retryable"] is True
    assert groups["github"]["category"] == "rate_limit"
    shown = medic_json(db_url, "errors", "show", str(groups["github"]["id"]))
    assert shown["occurrences"][0]["event"]["context"]["api_key"] == "***"
    assert "sk_live_abcdefghijklmnop1234" not in worker.output()
    assert medic_json(db_url, "stats")["occurrences"] == 3


def test_duplicates_by_idempotency_key_and_by_redelivery_count_once(client, worker, db_url):
    send(client, event(idempotency_key="order-7-settle"))
    send(client, event(idempotency_key="order-7-settle"))
    task_id = str(uuid.uuid4())
    send(client, event(3), task_id=task_id)
    send(client, event(3), task_id=task_id)  # the broker delivering the same message again
    send(client, event(4))  # a marker: processed after the others (prefetch 1, FIFO)
    wait_for(lambda: count_rows(db_url, "occurrences") >= 3, timeout_s=30, what="3 occurrences")
    wait_for(lambda: "event duplicate" in worker.output(), timeout_s=10, what="duplicates to be processed")
    assert count_rows(db_url, "occurrences") == 3
    [group] = medic_json(db_url, "errors", "list")
    assert group["count"] == 3


@BROKERS
def test_bad_payloads_are_rejected_with_reasons_and_the_worker_goes_on(client, worker, db_url, broker_url):
    send(client, "not an object")
    send(client, {"message": "no type", "service": "x"})
    send(client, event(http_status="teapot"))
    send(client, event(context={"blob": "x" * 300_000}))
    nested: dict = {}
    for _ in range(40):
        nested = {"deeper": nested}
    send(client, event(context=nested))
    client.send_task("medic.report", args=[event(), "extra"], queue="medic.errors")
    with Connection(broker_url) as conn:  # a body that is not JSON at all
        exchange = Exchange("medic.errors", type="direct")
        producer = Producer(conn, exchange=exchange, routing_key="medic.errors")
        producer.publish(b"{not json", content_type="application/json", content_encoding="utf-8",
                         headers={"task": "medic.report", "id": str(uuid.uuid4())},
                         declare=[Queue("medic.errors", exchange, routing_key="medic.errors")])
    client.send_task("medic.reprot", args=[event()], queue="medic.errors")
    send(client, event(99, service="after-the-bad-ones"))

    try:
        wait_for(lambda: count_rows(db_url, "rejected_events") == 8, timeout_s=30, what="8 rejected events")
    finally:
        reasons = " | ".join(r["reason"] for r in medic_json(db_url, "rejected", "list"))
        print(f"rejection reasons: {reasons}\nworker log:\n{worker.output()[-6000:]}")
    wait_for(lambda: count_rows(db_url, "occurrences") == 1, timeout_s=10, what="the good event")
    for expected in ("expected a JSON object, got a string", "error_type: Field required", "http_status",
                     "MEDIC_MAX_EVENT_BYTES", "MEDIC_MAX_NESTING_DEPTH", "exactly one positional argument",
                     "undecodable message", "unknown task 'medic.reprot'"):
        assert expected in reasons
    assert worker.proc.poll() is None


def test_sigkill_mid_stream_loses_nothing_and_doubles_nothing(client, tmp_path, db_url, redis_url):
    env = medic_env(database_url=db_url, broker_url=redis_url, broker_visibility_timeout_s=10)
    first = start_worker(env, tmp_path / "first.log")
    total = 1000
    for n in range(total):
        send(client, event(n, idempotency_key=None, service=f"svc-{n % 5}"))
    wait_for(lambda: count_rows(db_url, "occurrences") >= 20, timeout_s=30, what="some events stored")
    first.kill()
    assert count_rows(db_url, "occurrences") < total, "the worker finished before it was killed"
    in_flight = redis.Redis.from_url(redis_url).hlen("unacked")
    assert in_flight > 0, "no message was in flight when the worker died"
    second = start_worker(env, tmp_path / "second.log")
    try:
        wait_for(lambda: count_rows(db_url, "occurrences") == total, timeout_s=90, what=f"{total} occurrences")
        groups = medic_json(db_url, "errors", "list")
        assert sum(g["count"] for g in groups) == total
    finally:
        second.terminate()


def test_database_outage_mid_stream_loses_nothing(client, tmp_path, pg_database, redis_url):
    direct_url = services.pg_url(pg_database)
    proxy = CuttableProxy(services.PG_HOST, services.PG_PORT)
    env = medic_env(database_url=services.pg_url(pg_database, port=proxy.port), broker_url=redis_url,
                    db_retry_max_delay_s=2)
    process = start_worker(env, tmp_path / "worker.log")
    try:
        for n in range(20):
            send(client, event(n))
        wait_for(lambda: count_rows(direct_url, "occurrences") == 20, timeout_s=30, what="20 before the outage")
        proxy.cut()
        for n in range(20, 60):
            send(client, event(n))
        wait_for(lambda: "storage unavailable" in process.output(), timeout_s=30, what="retries during the outage")
        assert count_rows(direct_url, "occurrences") == 20
        proxy.restore()
        wait_for(lambda: count_rows(direct_url, "occurrences") == 60, timeout_s=60, what="60 after the outage")
        assert process.proc.poll() is None
    finally:
        process.terminate()
        proxy.close()
