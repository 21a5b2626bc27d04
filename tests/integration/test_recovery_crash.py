"""SIGKILL medic's worker in the middle of recovery chains: after a new worker starts, every execution
finishes and no replay's side effect happens twice (counted at the test app)."""

from __future__ import annotations

import json
import time

import pytest
import redis

from tests.support import recovery, testapp
from tests.support.recovery import SERVICE, celery_target, make_event, plan, report, retry_step, write_plans
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

EVENTS = 20
VISIBILITY_TIMEOUT_S = 10


def unacked_medic_messages(redis_url: str) -> dict[str, str]:
    """What a dead medic worker held (task id: task and arguments): the Redis transport keeps it in
    the `unacked` hash until redelivery (the test app's worker, alive, holds its own there too)."""
    held = {}
    for raw in redis.Redis.from_url(redis_url).hvals("unacked"):
        headers = json.loads(raw)[0].get("headers", {})
        if str(headers.get("task")).startswith("medic."):
            held[headers["id"]] = f"{headers.get('task')}{headers.get('argsrepr', '')}{headers.get('kwargsrepr', '')}"
    return held


def test_sigkill_of_the_worker_mid_chain_finishes_every_execution_with_one_effect_each(medic, client, redis_url,
                                                                                       tmp_path):
    # Every first attempt fails: a breaker with the default threshold would open and defer the rest for 30 s.
    plans = write_plans(tmp_path, [plan("crash-retry", retry_step(6, 1.0, 2, 2, "equal"), {"kind": "dead_letter"})],
                        breakers={"services": {SERVICE: {"failure_threshold": 1000}}})
    medic.configure(plans_file=plans, broker_visibility_timeout_s=VISIBILITY_TIMEOUT_S, recovery_countdown_max_s=5,
                    recovery_redispatch_after_s=2, recovery_attempt_timeout_s=13)
    medic.start()
    first_worker = next(p for name, p in medic.processes if name == "worker")
    db_url = medic.db_url
    keys = [f"crash-{n}" for n in range(EVENTS)]

    for key in keys:
        report(client, make_event(celery_target("testapp.flaky", key, 1)))

    def mid_chain() -> bool:
        states = [e["state"] for e in recovery.executions(db_url)]
        done = sum(s == "succeeded" for s in states)
        in_flight = [a for a in recovery.attempts(db_url) if a["state"] in ("scheduled", "running")]
        return len(states) == EVENTS and done >= 2 and len(in_flight) >= 3

    try:
        wait_for(mid_chain, timeout_s=30, interval_s=0.05, what="some executions done and attempts in flight")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{recovery.describe(db_url)}") from None
    first_worker.kill()
    killed_at = time.time()
    # Attempts the dead worker had claimed: their replay may have run with its outcome lost with the worker.
    running_at_kill = {a["id"] for a in recovery.attempts(db_url) if a["state"] == "running"}
    unfinished = [e for e in recovery.executions(db_url) if e["state"] not in recovery.FINAL_STATES]
    held = unacked_medic_messages(redis_url)
    print(f"killed at {killed_at:.3f} with {len(unfinished)} executions unfinished; messages it held (unacked): "
          f"{sorted(held.values())}")
    assert unfinished, "every execution finished before the worker was killed"

    second_worker = medic.worker()
    recovery.wait_execution_state(db_url, None, recovery.FINAL_STATES, timeout_s=50, count=EVENTS)
    # Messages the dead worker held come back after the visibility timeout: wait until the new worker
    # has run each of them, then until nothing more happens, then count.
    # A sweeper pass it held is not waited for: redelivered past its expiry (twice the sweep interval),
    # the new worker discards it unrun, by design; the next pass comes from beat anyway.
    runs = [task_id for task_id, task in held.items() if not task.startswith(recovery.SWEEP_TASK)]
    recovery.wait_tasks_ran(lambda: [second_worker.log_path], runs, timeout_s=VISIBILITY_TIMEOUT_S + 30)
    medic.wait_quiet(client)

    finished = recovery.executions(db_url)
    assert [e["state"] for e in finished] == ["succeeded"] * EVENTS, recovery.describe(db_url)
    doubled = {k: (testapp.calls(k, redis_url), testapp.effects(k, redis_url), testapp.task_ids(k, redis_url))
               for k in keys if testapp.effects(k, redis_url) != 1}
    assert not doubled, f"side effects not exactly once (key: calls, effects, task ids): {doubled}"
    # A replay runs again only when its callback was lost (the worker died holding it): the app's
    # idempotency key (medic's header, one per execution) keeps the effect single.
    assert all(testapp.calls(k, redis_url) >= 2 for k in keys)
    for key in keys:
        assert len(set(testapp.idempotency_keys(key, redis_url))) == 1, testapp.idempotency_keys(key, redis_url)
    for key in keys:  # an attempt ran twice at the app only if the dead worker had claimed it (sent again, same id)
        ids = testapp.task_ids(key, redis_url)
        twice = {task_id for task_id in ids if ids.count(task_id) > 1}
        resent = all(ids.count(task_id) == 2 and int(task_id.rsplit("-", 1)[1]) in running_at_kill
                     for task_id in twice)
        assert resent, f"{key} ran the same replay twice: {ids}; attempts running at the kill: {running_at_kill}"
    for execution in finished:
        succeeded = [a for a in recovery.attempts(db_url, execution["id"]) if a["state"] == "succeeded"]
        assert len(succeeded) == 1, recovery.describe(db_url)
