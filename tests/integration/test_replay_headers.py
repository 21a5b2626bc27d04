"""A Celery replay keeps the app's own headers and the message's priority, end to end on the run's Redis.

An app with `medic_client.celery.install` (written to the test's directory: tests/support/testapp.py does
not use the client) runs as a real `celery worker`; its task fails once for good, the client reports it
with the task as the replay target, and medic's worker replays it. The task records, per run, what
`self.request` showed it (a header, the delivery priority, medic's execution header) in Redis.

An event whose target names a header Celery or medic reads is rejected at intake, naming the header.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest
import redis

from tests.support import recovery
from tests.support.recovery import celery_target, make_event, plan, report, retry_step, write_plans
from tests.support.services import REPO, Process, wait_for

pytestmark = pytest.mark.integration

QUEUE = "hdrapp"
APP_MODULE = '''
import json
import os

import redis
from celery import Celery

from medic_client.celery import install

app = Celery("hdrapp", broker=os.environ["HDRAPP_BROKER_URL"])
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True, task_default_queue="hdrapp",
                worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True, worker_hijack_root_logger=True)
install(app, service="partner-api")
store = redis.Redis.from_url(os.environ["HDRAPP_REDIS_URL"])


@app.task(name="hdrapp.probe", bind=True)
def probe(self, key):
    """Fails its first run (reported by the client), succeeds when medic replays it."""
    seen = {"tenant": self.request.get("tenant"), "trace": self.request.get("trace.id"),
            "priority": (self.request.delivery_info or {}).get("priority"),
            "execution": self.request.get("medic_execution_id")}
    store.rpush(f"hdrapp:seen:{key}", json.dumps(seen))
    if store.llen(f"hdrapp:seen:{key}") == 1:
        raise RuntimeError("partner API down")
    return {"ok": True}
'''


def start_app_worker(tmp_path: Path, broker_url: str, redis_url: str) -> Process:
    (tmp_path / "hdrapp.py").write_text(APP_MODULE)
    env = {"PATH": "/usr/bin:/bin", "HDRAPP_BROKER_URL": broker_url, "HDRAPP_REDIS_URL": redis_url,
           "PYTHONPATH": f"{tmp_path}:{REPO}", "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "celery", "-A", "hdrapp", "worker", "-Q", QUEUE, "-c", "1", "--pool", "prefork",
            "--hostname", f"hdrapp-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "INFO", "--without-gossip",
            "--without-mingle"]
    return Process(args, env, tmp_path / "hdrapp.log", cwd=tmp_path)


def runs(redis_url: str, key: str) -> list[dict]:
    return [json.loads(item) for item in redis.Redis.from_url(redis_url).lrange(f"hdrapp:seen:{key}", 0, -1)]


def test_a_replay_carries_the_apps_headers_and_priority(medic, client, redis_url, tmp_path):
    plans = write_plans(tmp_path, [plan("probe", retry_step(2, 0.2, 2, 0.5, "none", timeout_s=13),
                                        {"kind": "dead_letter"})])
    medic.configure(plans_file=plans, replay_targets__celery_tasks="hdrapp.*", replay_targets__celery_queues=QUEUE)
    app_worker = start_app_worker(tmp_path, medic.broker_url, redis_url)
    medic.processes.append(("hdrapp", app_worker))
    medic.start(testapp=False)
    app_worker.wait_ready()

    client.send_task("hdrapp.probe", args=["k1"], queue=QUEUE, priority=5,
                     headers={"tenant": "acme", "trace.id": 42, "nested": {"not": "a scalar"}})
    [execution] = recovery.wait_executions(medic.db_url, 1, timeout_s=20)
    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=20)

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    [occurrence] = recovery.rows(medic.db_url, "SELECT event FROM occurrences")
    replay = occurrence["event"]["replay"]
    assert replay["headers"] == {"tenant": "acme", "trace.id": 42} and replay["priority"] == 5, replay
    assert "'nested'" in occurrence["event"]["context"]["replay_headers_left_out"][0]
    original, replayed = runs(redis_url, "k1")
    assert original == {"tenant": "acme", "trace": 42, "priority": 5, "execution": None}
    assert replayed == {"tenant": "acme", "trace": 42, "priority": 5, "execution": done["id"]}


def test_an_event_naming_a_reserved_header_is_rejected_at_intake(medic, client):
    medic.configure()
    medic.start(testapp=False, beat=False)

    for headers in ({"task": "medic.recovery.replay_succeeded"}, {"tenant": "acme", "medic_execution_id": 1}):
        report(client, make_event({**celery_target("testapp.flaky", "k2", 0), "headers": headers}))
    wait_for(lambda: len(recovery.rows(medic.db_url, "SELECT id FROM rejected_events")) >= 2, timeout_s=15,
             what="both events to be rejected")

    reasons = sorted(row["reason"] for row in recovery.rows(medic.db_url, "SELECT reason FROM rejected_events"))
    assert len(reasons) == 2 and all("replay.celery.headers" in reason and "Celery's or medic's own" in reason
                                     for reason in reasons), reasons
    assert "header 'medic_execution_id' is" in reasons[0] and "header 'task' is" in reasons[1], reasons
    assert recovery.executions(medic.db_url) == []
