"""Stuck executions with real processes: the stuck job recovers an execution whose worker was
SIGKILLed mid-attempt (no beat, so no sweeper), and a reassigned execution runs on a worker that
consumes only its extra recovery queue."""

from __future__ import annotations

import json
import time

import pytest

from tests.support import recovery, services
from tests.support.httpserver import respond
from tests.support.recovery import http_target, make_event, plan, report, retry_step, write_plans
from tests.support.replay_http import allow_http
from tests.support.services import run_medic, wait_for

pytestmark = pytest.mark.integration

HTTP_TIMEOUT_S = 3  # the attempt's deadline is this plus the service's 5 s grace
RUNNING_GRACE_S = 0.5


def running_attempt(db_url: str) -> dict | None:
    return next((a for a in recovery.attempts(db_url) if a["state"] == "running"), None)


def test_the_stuck_job_requeues_the_execution_of_a_sigkilled_worker_to_completion(medic, client, http_server, tmp_path):
    # The first call hangs (the worker is killed in it); the second succeeds.
    http_server.script("/orders", respond(503, delay_s=30), respond(200, body={"id": 7}))
    plans = write_plans(tmp_path, [plan("stuck-http", retry_step(3, 0.2, 2, 0.5, "none"), {"kind": "dead_letter"})])
    medic.configure(plans_file=plans, stuck__running_grace_s=RUNNING_GRACE_S,
                    replay_http__allow=allow_http(http_server))
    medic.start(beat=False, testapp=False)  # no beat: no sweeper to time the attempt out
    [(_, first_worker)] = medic.processes

    report(client, make_event(http_target(http_server.url("/orders"), timeout_s=HTTP_TIMEOUT_S)))
    wait_for(lambda: running_attempt(medic.db_url), timeout_s=30, interval_s=0.05, what="the attempt claimed")
    time.sleep(0.3)  # in its call, which times out (and the worker records it) only after HTTP_TIMEOUT_S
    first_worker.kill()
    killed = running_attempt(medic.db_url)
    assert killed is not None, recovery.describe(medic.db_url)
    second_worker = medic.worker(wait=False)  # a new worker; it does not sweep

    stuck_at = recovery.epoch(killed["deadline_at"]) + RUNNING_GRACE_S
    time.sleep(max(0.0, stuck_at - time.time()) + 0.2)  # until the stuck job may call it stuck
    second_worker.wait_ready()  # the worker that could move it is up (and has not)
    assert running_attempt(medic.db_url)["id"] == killed["id"], "something other than the stuck job moved it"
    ran = run_medic(medic.env, "maintenance", "run", "stuck", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert (result["status"], result["counts"]) == ("succeeded", {"stuck": 1, "requeued": 1}), result

    [done] = recovery.wait_execution_state(medic.db_url, killed["execution_id"], recovery.FINAL_STATES, timeout_s=40)
    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    attempts = recovery.attempts(medic.db_url, done["id"])
    assert [(a["number"], a["state"], a["outcome"]) for a in attempts] == [
        (1, "timed_out", "timeout"), (2, "succeeded", "success")], recovery.describe(medic.db_url)
    assert attempts[0]["claimed_by"] == killed["claimed_by"] != attempts[1]["claimed_by"]
    [note] = [a for a in recovery.audit(medic.db_url, done["id"]) if a["action"] == "stuck_requeue"]
    assert (note["actor"], note["attempt_id"]) == ("maintenance:stuck", killed["id"])
    assert http_server.successes("/orders") == 1


def test_a_reassigned_execution_runs_on_a_worker_of_its_extra_queue(medic, client, http_server, tmp_path):
    http_server.script("/orders", respond(200))
    plans = write_plans(tmp_path, [plan("stuck-http", retry_step(3, 0.2, 2, 0.5, "none"), {"kind": "dead_letter"})])
    env = {**medic.configure(plans_file=plans, replay_http__allow=allow_http(http_server)), "USER": "tester"}
    intake = services.start_worker(env, tmp_path / "intake.log", queues="medic.errors")  # nobody on medic.recovery
    medic.processes.append(("worker", intake))

    report(client, make_event(http_target(http_server.url("/orders"))))
    [execution] = recovery.wait_executions(medic.db_url, 1, timeout_s=20)
    moved = run_medic(env, "stuck", "reassign", str(execution["id"]), "--queue", "medic.recovery.special")
    assert moved.returncode == 0 and "reassigned to queue medic.recovery.special by operator:tester" in moved.stdout, \
        moved.stderr
    special = services.start_worker(env, tmp_path / "special.log", queues="medic.recovery.special")
    medic.processes.append(("worker", special))

    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=30)
    assert done["state"] == "succeeded" and done["queue"] == "medic.recovery.special", recovery.describe(medic.db_url)
    assert http_server.successes("/orders") == 1
    assert "medic.recovery.run" in special.output()
