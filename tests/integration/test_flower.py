"""`medic flower` end to end: a real `medic worker` and Flower on Redis + PostgreSQL.

An app (a plain Celery client) reports events, one full of secrets; Flower must list the worker
and the tasks medic sends itself (recovery runs) with readable arguments, keep its API behind basic
auth, answer /healthcheck without it, and never show (or log, or put in its argv) a secret.
`medic.report` is consumed in batches, not as one task per event: Flower shows no task per event.
"""

from __future__ import annotations

import re
import socket
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support import services
from tests.support.services import Process, medic_command, medic_env, run_medic, wait_for

pytestmark = pytest.mark.integration

QUEUES = "medic.errors,medic.recovery"
SECRET = "hunter2-very-secret"
FLOWER_USER, FLOWER_PASSWORD = "ops", "flower-pass-4711"
AUTH = (FLOWER_USER, FLOWER_PASSWORD)
LOG_TAIL_CHARS = 3000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def events() -> list[dict]:
    return [
        {"error_type": "psycopg.errors.DeadlockDetected", "message": "deadlock detected", "service": "orders-db",
         "operation": "settle", "code": "40P01",
         "replay": {"kind": "celery", "task": "testapp.settle", "args": [1], "queue": "testapp"}},
        {"error_type": "requests.exceptions.HTTPError", "message": "429 Client Error: Too Many Requests",
         "service": "github", "http_status": 429},
        {"error_type": "billing.LoginFailed", "message": f"login refused: password={SECRET}", "service": "billing",
         "context": {"password": SECRET, "headers": {"Authorization": f"Bearer {SECRET}", "X-Request-Id": "r-1"},
                     "url": f"https://admin:{SECRET}@billing.internal/login"}},
    ]


class Stack:
    """medic's worker and Flower, stopped (and their log tails printed) at teardown."""

    def __init__(self, tmp_path: Path, redis_url: str, db_url: str):
        self.env = medic_env(database_url=db_url, broker_url=redis_url, broker_visibility_timeout_s=10,
                             log_format="text", worker_concurrency=1, replay_targets__celery_tasks="testapp.*",
                             replay_targets__celery_queues="testapp")
        self.db_url = db_url
        self.worker_name = f"flower-test-{uuid.uuid4().hex[:6]}@localhost"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.worker = Process(medic_command("worker", "--queues", QUEUES, "--hostname", self.worker_name),
                              self.env, tmp_path / "worker.log")
        flower_env = {**self.env, "MEDIC_FLOWER__BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}"}
        self.flower = Process(medic_command("flower", "--port", str(self.port)), flower_env, tmp_path / "flower.log")

    def get(self, path: str, **options) -> httpx.Response:
        return httpx.get(self.base + path, timeout=5, **options)

    def wait_ready(self) -> None:
        self.worker.wait_ready()

        def flower_up() -> bool:
            if self.flower.proc.poll() is not None:
                raise AssertionError(f"flower exited with {self.flower.proc.returncode}:\n"
                                     f"{self.flower.output()[-LOG_TAIL_CHARS:]}")
            try:
                return self.get("/healthcheck").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(flower_up, timeout_s=20, what="Flower's /healthcheck")
        # Flower's event receiver is live once it has seen the worker's heartbeat (every 2 s).
        wait_for(lambda: self.get("/api/workers?status=true", auth=AUTH).json().get(self.worker_name) is True,
                 timeout_s=15, interval_s=0.2, what="Flower to see the worker's events")

    def stop(self) -> None:
        for name, process in (("flower", self.flower), ("worker", self.worker)):
            process.terminate(timeout_s=15)
            print(f"----- {name} log (tail) -----\n{process.output()[-LOG_TAIL_CHARS:]}")


@pytest.fixture
def stack(tmp_path, redis_url, pg_database):
    stack = Stack(tmp_path, redis_url, services.pg_url(pg_database))
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()


def report_tasks(stack: Stack) -> dict[str, dict]:
    return stack.get("/api/tasks?taskname=medic.report", auth=AUTH).json()


def recovery_runs(stack: Stack) -> dict[str, dict]:
    return stack.get("/api/tasks?taskname=medic.recovery.run", auth=AUTH).json()


def test_flower_lists_worker_and_masked_readable_tasks_behind_basic_auth(stack, client):
    for event in events():
        client.send_task("medic.report", args=[event], queue="medic.errors")
    wait_for(lambda: services.count_rows(stack.db_url, "occurrences") == 3, timeout_s=20, what="3 stored events")
    assert report_tasks(stack) == {}  # consumed in batches: no task per event to list

    workers = stack.get(f"/api/workers?refresh=1&workername={stack.worker_name}", auth=AUTH)
    assert workers.status_code == 200 and stack.worker_name in workers.json()
    assert "medic.report" in workers.json()[stack.worker_name]["registered"]
    assert stack.worker_name in stack.get("/api/workers?refresh=1", auth=AUTH).json()

    # Recovery starts for the event with a replay target; medic sends those tasks itself, their arguments as JSON.
    wait_for(lambda: any(t["state"] == "SUCCESS" for t in recovery_runs(stack).values()), timeout_s=10,
             interval_s=0.2, what="a medic.recovery.run task in Flower")
    assert all(re.fullmatch(r"\[\d+\]", task["args"]) for task in recovery_runs(stack).values())

    seen = [stack.get("/api/tasks", auth=AUTH).text, workers.text]
    for text in seen:
        assert SECRET not in text and "hunter2" not in text
    assert SECRET not in stack.flower.output() and SECRET not in stack.worker.output()


def test_flower_needs_credentials_except_for_healthcheck(stack):
    for path in ("/api/workers", "/api/tasks", "/"):
        assert stack.get(path).status_code == 401, path
        assert stack.get(path, auth=(FLOWER_USER, "wrong")).status_code == 401, path
        assert stack.get(path, auth=("intruder", FLOWER_PASSWORD)).status_code == 401, path
    assert stack.get("/api/tasks", auth=AUTH).status_code == 200
    health = stack.get("/healthcheck")
    assert health.status_code == 200 and health.text == "OK"
    # The credentials travel in Flower's environment, not its command line (`ps` shows that).
    argv = Path(f"/proc/{stack.flower.proc.pid}/cmdline").read_bytes().decode()
    assert "celery" in argv and "flower" in argv and FLOWER_PASSWORD not in argv


def test_flower_without_basic_auth_exits_3_naming_the_setting(redis_url, pg_database):
    env = medic_env(database_url=services.pg_url(pg_database), broker_url=redis_url)
    result = run_medic(env, "flower", "--port", str(free_port()), timeout_s=30)
    assert result.returncode == 3, result.stderr
    assert "MEDIC_FLOWER__BASIC_AUTH" in result.stderr
    assert result.stdout == ""
