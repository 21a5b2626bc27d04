"""A delay beyond the countdown threshold waits in the database, not in the broker: the beat sweeper
dispatches the attempt when it is due, once, even though the worker restarted in between."""

from __future__ import annotations

import time

import pytest

from tests.support import recovery, testapp
from tests.support.recovery import celery_target, make_event, plan, report, retry_step, write_plans
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

# Longer than MEDIC_RECOVERY_COUNTDOWN_MAX_S (1 s) and than a worker restart (stop ~1.5 s + start ~4.5 s here,
# about twice that on a slow shared machine).
DELAY_S = 15.0
LATE_S = 3.0  # dispatch after the sweep that finds it due, on a slow machine
SWEEP_INTERVAL_S = 0.5


def test_a_long_delay_is_dispatched_by_the_sweeper_once_at_its_time_across_a_worker_restart(medic, client, redis_url,
                                                                                           tmp_path):
    plans = write_plans(tmp_path, [plan("long-delay", retry_step(2, DELAY_S, 2, 60, "none", timeout_s=13),
                                        {"kind": "dead_letter"})])
    medic.configure(plans_file=plans, recovery_countdown_max_s=1, recovery_sweep_interval_s=SWEEP_INTERVAL_S)
    medic.start()
    db_url = medic.db_url

    reported_at = time.time()
    report(client, make_event(celery_target("testapp.flaky", "k-long", 0)))
    [execution] = recovery.wait_executions(db_url, 1, timeout_s=20)
    try:
        wait_for(lambda: len(recovery.attempts(db_url, execution["id"])) == 1, timeout_s=10, what="the first attempt")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{recovery.describe(db_url)}") from None
    [attempt] = recovery.attempts(db_url, execution["id"])
    due = recovery.epoch(attempt["scheduled_for"])
    assert attempt["state"] == "scheduled" and attempt["dispatched_at"] is None, recovery.describe(db_url)
    assert reported_at + DELAY_S - 0.5 <= due <= reported_at + DELAY_S + LATE_S, \
        f"due {due - reported_at:.2f}s after reporting"
    waiting = recovery.execution(db_url, execution["id"])
    assert waiting["state"] in ("pending",
                                "waiting") and waiting["next_attempt_at"] is not None, recovery.describe(db_url)
    assert abs(recovery.epoch(waiting["next_attempt_at"]) - due) < 0.01

    # Restart medic's worker before the attempt is due; beat keeps running.
    old = next(p for name, p in medic.processes if name == "worker")
    assert old.terminate() == 0, old.output()[-3000:]
    medic.worker()
    assert time.time() < due - 0.5, f"the restart ended {time.time() - due:.2f}s after the attempt was due"
    assert testapp.calls("k-long", redis_url) == 0
    [row] = recovery.attempts(db_url, execution["id"])
    assert row["dispatched_at"] is None, "dispatched long before it was due"

    [done] = recovery.wait_execution_state(db_url, execution["id"], recovery.FINAL_STATES, timeout_s=20)
    medic.wait_quiet(client)  # a second dispatch by a later sweep would have run by now

    assert done["state"] == "succeeded", recovery.describe(db_url)
    assert testapp.calls("k-long", redis_url) == 1 and testapp.effects("k-long", redis_url) == 1
    [ran_at] = testapp.times("k-long", redis_url)
    assert ran_at >= due - 0.5, f"ran {due - ran_at:.2f}s before it was due"
    assert ran_at <= due + SWEEP_INTERVAL_S + LATE_S, f"ran {ran_at - due:.2f}s after it was due"
    [attempt] = recovery.attempts(db_url, execution["id"])
    assert (attempt["state"], attempt["outcome"], attempt["dispatch_count"]) == ("succeeded", "success", 1)
    assert recovery.epoch(attempt["dispatched_at"]) >= due - 0.5
    assert testapp.task_ids("k-long", redis_url) == [f"medic-{execution['id']}-{attempt['id']}"]
