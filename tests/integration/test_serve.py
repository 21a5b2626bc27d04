"""`medic serve` as a process: metrics after a real workload, and readiness across a database outage.

The outage uses a private PostgreSQL server (tests/support/pgcluster.py) that the test stops and
starts again; the shared one stays up for the other tests.
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import services
from tests.support.pgcluster import free_port
from tests.support.services import Process, count_rows, medic_command, medic_env, start_worker, wait_for
from workers.storage import migrate

pytestmark = pytest.mark.integration

TOKEN = "serve-test-token-0123456789"


def start_serve(tmp_path, database_url: str, broker_url: str, *, tokens: str | None = None,
                **settings) -> tuple[Process, str]:
    """`tokens`: MEDIC_SERVE__TOKENS as JSON; default one read token, TOKEN."""
    port = free_port()
    env = medic_env(database_url=database_url, broker_url=broker_url, serve__port=port, serve__metrics_cache_s=0,
                    serve__probe_timeout_s=1, serve__tokens=tokens or f'{{"ci": {{"token": "{TOKEN}"}}}}',
                    log_format="text", **settings)
    process = Process(medic_command("serve"), env, tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.proc.poll() is not None:
            raise AssertionError(f"medic serve exited {process.proc.returncode}:\n{process.output()[-3000:]}")
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, timeout_s=30, what="medic serve to answer /healthz")
    return process, base


def metric_values(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_of_a_real_workload_match_the_database(tmp_path, pg_database, redis_url, client):
    db_url = services.pg_url(pg_database)
    worker = start_worker(medic_env(database_url=db_url, broker_url=redis_url, broker_visibility_timeout_s=10),
                          tmp_path / "worker.log")
    serve, base = start_serve(tmp_path, db_url, redis_url)
    try:
        deadlock = {"error_type": "psycopg.errors.DeadlockDetected", "message": "deadlock detected",
                    "service": "orders-db"}
        for n in range(3):
            client.send_task("medic.report", args=[{**deadlock, "message": f"deadlock detected: process {n}"}],
                             queue="medic.errors")
        client.send_task("medic.report", args=[{"error_type": "TimeoutError", "message": "read timed out",
                                                "service": "partner", "severity": "high"}], queue="medic.errors")
        client.send_task("medic.report", args=[{"message": "no type"}], queue="medic.errors")
        wait_for(lambda: count_rows(db_url, "occurrences") == 4 and count_rows(db_url, "rejected_events") == 1,
                 timeout_s=30, what="4 occurrences and 1 rejection")

        metrics = metric_values(httpx.get(f"{base}/metrics", timeout=10).text)
        assert metrics[("medic_events_received_total", (("outcome", "accepted"),))] == 4
        assert metrics[("medic_events_received_total", (("outcome", "rejected"),))] == 1
        assert sum(v for (name, _), v in metrics.items() if name == "medic_occurrences_total") == 4
        assert sum(v for (name, labels), v in metrics.items()
                   if name == "medic_occurrences_total" and ("category", "conflict") in labels) == 3
        assert sum(v for (name, _), v in metrics.items() if name == "medic_error_groups") == 2
        assert metrics[("medic_queue_depth", (("queue", "medic.errors"),))] == 0
        assert metrics[("medic_source_up", (("source", "broker"),))] == 1

        groups = httpx.get(f"{base}/api/groups", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
        assert {g["service"]: g["count"] for g in groups["items"]} == {"orders-db": 3, "partner": 1}
    finally:
        serve.proc.send_signal(signal.SIGTERM)
        code = serve.terminate(timeout_s=15)
        worker.terminate()
        print(serve.output()[-3000:])
    assert code in (0, -signal.SIGTERM)  # uvicorn shuts down gracefully, then re-raises the signal
    assert "Finished server process" in serve.output()


def test_readyz_fails_while_the_database_is_stopped_and_recovers_when_it_returns(tmp_path, private_postgres, redis_url):
    db_url = private_postgres.url()
    migrate.upgrade(db_url)
    serve, base = start_serve(tmp_path, db_url, redis_url)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        assert httpx.get(f"{base}/readyz", timeout=5).json() == {"status": "ready", "problems": {}}
        assert httpx.get(f"{base}/api/groups", headers=auth, timeout=5).status_code == 200

        private_postgres.stop()
        started = time.monotonic()
        down = httpx.get(f"{base}/readyz", timeout=10)
        took_s = time.monotonic() - started
        assert down.status_code == 503 and set(down.json()["problems"]) == {"database"}, down.text
        assert took_s < 5, f"/readyz took {took_s:.1f}s with the database down"
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # alive, just not ready
        failed = httpx.get(f"{base}/api/groups", headers=auth, timeout=10)
        assert failed.status_code == 503 and "database unavailable" in failed.json()["detail"]
        assert "Traceback" not in failed.text
        metrics = metric_values(httpx.get(f"{base}/metrics", timeout=10).text)
        assert metrics[("medic_source_up", (("source", "database"),))] == 0

        private_postgres.start()
        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 200, timeout_s=15,
                 what="/readyz to recover")
        assert httpx.get(f"{base}/api/groups", headers=auth, timeout=10).status_code == 200
        assert serve.proc.poll() is None
    finally:
        serve.terminate(timeout_s=15)
        print(serve.output()[-3000:])
