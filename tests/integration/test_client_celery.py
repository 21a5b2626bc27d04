"""`medic_client.celery.install` end to end: the example app (examples/celery_app) as a real `celery worker`
from a fresh venv holding only the client, medic's own worker and beat from this checkout, one broker.

The example's tasks count their runs and side effects in Redis (`shop:calls:<key>`, `shop:effects:<key>`);
medic's tables say what medic made of the reports.
"""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest
import redis

from tests.integration.conftest import BROKERS
from tests.support import recovery
from tests.support.client_venv import ClientVenv, client_venv
from tests.support.recovery import plan, retry_step, write_plans
from tests.support.services import REPO, Process, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def venv(tmp_path_factory) -> ClientVenv:
    """A fresh venv with only the client (and kombu[redis]) installed: tests/support/client_venv.py."""
    return client_venv(tmp_path_factory)

EXAMPLE_DIR = REPO / "examples" / "celery_app"
SHOP_QUEUE = "shop"
SHOP_SERVICE = "payment-gateway"  # install's service in the example
# medic may replay the example's tasks, on its queue.
REPLAY_SETTINGS = {"replay_targets__celery_tasks": "shop.*", "replay_targets__celery_queues": SHOP_QUEUE}


def shop_worker(venv: ClientVenv, log_path: Path, *, broker_url: str, redis_url: str,
                medic_broker_url: str | None = None) -> Process:
    """The example app's worker, run by the client-only venv from the example's directory."""
    env = venv.env(SHOP_BROKER_URL=broker_url, SHOP_REDIS_URL=redis_url)
    if medic_broker_url:
        env["SHOP_MEDIC_BROKER_URL"] = medic_broker_url
    args = [str(venv.python), "-m", "celery", "-A", "config.celery_app", "worker", "-Q", SHOP_QUEUE, "-c", "2",
            "--pool", "prefork", "--hostname", f"shop-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle"]
    return Process(args, env, log_path, cwd=EXAMPLE_DIR)


def start_with_shop(medic, venv: ClientVenv, redis_url: str) -> Process:
    """medic's worker and beat, and the shop's worker, started side by side."""
    shop = shop_worker(venv, medic.tmp_path / "shop.log", broker_url=medic.broker_url, redis_url=redis_url)
    medic.processes.append(("shop", shop))
    medic.start(testapp=False)
    shop.wait_ready()
    return shop


def calls(redis_url: str, key: str) -> int:
    return int(redis.Redis.from_url(redis_url).get(f"shop:calls:{key}") or 0)


def effects(redis_url: str, key: str) -> int:
    return int(redis.Redis.from_url(redis_url).get(f"shop:effects:{key}") or 0)


def ping(client, redis_url: str, *, timeout_s: float = 20) -> None:
    """A positive barrier: the shop's worker ran a task sent now (and everything queued before it)."""
    key = f"ping-{uuid.uuid4().hex[:8]}"
    client.send_task("shop.ping", args=[key], queue=SHOP_QUEUE)
    wait_for(lambda: calls(redis_url, key) > 0, timeout_s=timeout_s, what=f"shop.ping({key!r}) to run")


def occurrences(db_url: str) -> list[dict]:
    return recovery.rows(db_url, "SELECT * FROM occurrences ORDER BY id")


def the_execution(db_url: str) -> dict:
    [execution] = recovery.wait_executions(db_url, 1, timeout_s=20)
    [done] = recovery.wait_execution_state(db_url, execution["id"], recovery.FINAL_STATES, timeout_s=30)
    return done


@BROKERS
def test_failed_task_is_reported_once_replayed_and_its_failed_replay_says_why(medic, client, venv, redis_url,
                                                                               tmp_path):
    # shop.charge: Celery retries it once; it fails 4 times: its first run and retry (reported), medic's
    # first replay and that replay's Celery retry (the attempt's outcome, via the client's errback), then
    # medic's second replay charges once.
    plans = write_plans(tmp_path, [plan("shop-charge", retry_step(4, 0.2, 2, 0.5, "none", timeout_s=13),
                                        {"kind": "dead_letter"}, service=SHOP_SERVICE)])
    medic.configure(plans_file=plans, **REPLAY_SETTINGS)
    start_with_shop(medic, venv, redis_url)

    client.send_task("shop.charge", args=["order-1", 4], queue=SHOP_QUEUE)
    done = the_execution(medic.db_url)
    medic.wait_quiet()
    ping(client, redis_url)

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    attempts = recovery.attempts(medic.db_url, done["id"])
    assert [(a["step_kind"], a["number"], a["state"], a["outcome"]) for a in attempts] == [
        ("retry", 1, "failed", "retryable"), ("retry", 2, "succeeded", "success")], recovery.describe(medic.db_url)
    # the client's errback told medic what the replay raised, not just that it failed
    assert "tasks.GatewayDown" in attempts[0]["error"] and "payment gateway unreachable" in attempts[0]["error"], \
        attempts[0]["error"]
    assert "the replayed task failed" not in attempts[0]["error"]
    assert calls(redis_url, "order-1") == 5 and effects(redis_url, "order-1") == 1
    assert len(recovery.executions(medic.db_url)) == 1
    [reported] = occurrences(medic.db_url)  # the replay's failure was an outcome, not a new report
    assert reported["source"] == "shop" and reported["idempotency_key"].startswith("celery-task-")
    assert reported["event"]["service"] == SHOP_SERVICE and reported["event"]["operation"] == "shop.charge"
    replay = reported["event"]["replay"]
    assert {k: replay.get(k) for k in ("kind", "task", "args", "kwargs", "queue")} == {
        "kind": "celery", "task": "shop.charge", "args": ["order-1", 4], "kwargs": {}, "queue": SHOP_QUEUE}
    assert reported["event"]["context"]["retries"] == 1  # after Celery's own retry
    assert recovery.rows(medic.db_url, "SELECT count(*) AS n FROM rejected_events")[0]["n"] == 0


def test_permanent_error_runs_the_tasks_fallback_and_ends_as_a_dead_letter(medic, client, venv, redis_url):
    # The built-in plans: an invalid card (ValueError) is category validation, plan bad-request.
    medic.configure(**REPLAY_SETTINGS)
    start_with_shop(medic, venv, redis_url)

    client.send_task("shop.charge_card", args=["order-2"], queue=SHOP_QUEUE)
    done = the_execution(medic.db_url)
    medic.wait_quiet()
    ping(client, redis_url)

    assert done["plan_name"] == "bad-request", recovery.describe(medic.db_url)
    kinds = [(a["step_kind"], a["outcome"]) for a in recovery.attempts(medic.db_url, done["id"])]
    assert ("inform", "success") in kinds and not any(kind == "retry" for kind, _ in kinds), kinds
    assert calls(redis_url, "order-2") == 1  # never replayed
    assert calls(redis_url, "told:card") == 1  # the per-task fallback ran, once: the app knows
    # The operation still failed: the plan goes on to notify and dead-letter it.
    assert done["state"] == "dead", recovery.describe(medic.db_url)


def test_replay_that_reports_its_own_handled_error_starts_no_second_execution(medic, client, venv, redis_url,
                                                                               tmp_path):
    plans = write_plans(tmp_path, [plan("shop-stock", retry_step(3, 0.2, 2, 0.5, "none", timeout_s=13),
                                        {"kind": "dead_letter"}, service=SHOP_SERVICE),
                                   plan("warehouse", retry_step(3, 0.2, 2, 0.5, "none", timeout_s=13),
                                        {"kind": "dead_letter"}, service="warehouse-api")])
    medic.configure(plans_file=plans, **REPLAY_SETTINGS)
    start_with_shop(medic, venv, redis_url)

    client.send_task("shop.sync_stock", args=["stock-1"], queue=SHOP_QUEUE)
    done = the_execution(medic.db_url)
    wait_for(lambda: len(occurrences(medic.db_url)) >= 2, timeout_s=20, what="the replay's own report")
    medic.wait_quiet()
    ping(client, redis_url)

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    assert calls(redis_url, "stock-1") == 2 and effects(redis_url, "stock-1") == 1
    assert len(recovery.executions(medic.db_url)) == 1, recovery.describe(medic.db_url)
    first, handled = occurrences(medic.db_url)
    assert first["event"]["service"] == SHOP_SERVICE and "medic_execution_id" not in first["event"]
    assert handled["event"]["service"] == "warehouse-api" and handled["event"]["medic_execution_id"] == done["id"]


def test_worker_keeps_working_when_medics_broker_is_down(venv, client, redis_url, tmp_path):
    down_url = f"redis://127.0.0.1:{unused_port()}/0"
    shop = shop_worker(venv, tmp_path / "shop.log", broker_url=redis_url, redis_url=redis_url,
                       medic_broker_url=down_url)
    try:
        shop.wait_ready()
        started = time.monotonic()
        client.send_task("shop.charge", args=["order-3", 99], queue=SHOP_QUEUE)
        wait_for(lambda: "medic report not sent" in shop.output(), timeout_s=20,
                 what="the unsent event logged on medic.capture")
        logged_after_s = time.monotonic() - started
        ping(client, redis_url)
        ping(client, redis_url)
        output = shop.output()
        assert shop.proc.poll() is None, output[-3000:]
        assert calls(redis_url, "order-3") == 2  # its run and Celery's retry, then it failed for good
        line = next(line for line in output.splitlines() if "medic report not sent" in line)
        assert "medic.capture" in line or "ERROR" in line, line
        assert '"service": "payment-gateway"' in line and '"operation": "shop.charge"' in line, line
        assert logged_after_s < 10, f"the failing task spent {logged_after_s:.1f}s on the down broker"
    finally:
        shop.terminate(timeout_s=15)
        print(shop.output()[-4000:])


def unused_port() -> int:
    """A local TCP port nothing listens on (bound and released: connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
