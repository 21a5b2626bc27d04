"""Recovery end to end with Celery replays: medic re-runs a task of a separate app until it succeeds.

The app (tests/support/testapp.py) has its own Celery app, worker and queue; medic sends its task
by name with link/link_error callbacks to `medic.recovery`. The app counts calls, call times and
side effects in Redis, so spacing and exactly-once are checked where they happen.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import BROKERS
from tests.support import recovery, testapp
from tests.support.recovery import celery_target, make_event, plan, report, retry_step, write_plans

pytestmark = pytest.mark.integration

# Scheduling slack: from the app's failure to medic's callback, the countdown firing, the app's worker
# picking the task up; 2 s covers a slow shared machine (the stored schedule is checked to 0.25 s below).
# Lower bound tolerance: clocks of processes on one host, rounding of stored times.
SLACK_S = 2.0
EARLY_S = 0.1


def backoff(n: int, initial: float, rate: float, cap: float) -> float:
    """The policy's delay before retry attempt n (1-based), before jitter."""
    return min(cap, initial * rate ** (n - 1))


def single_execution(db_url: str) -> dict:
    [execution] = recovery.wait_executions(db_url, 1, timeout_s=20)
    return execution


def check_task_ids(key: str, redis_url: str, execution_id: int, attempts: list[dict]) -> None:
    """Each app-side run carries the id medic gives the replay of that attempt: medic-<execution>-<attempt>."""
    assert testapp.task_ids(key, redis_url) == [f"medic-{execution_id}-{a['id']}" for a in attempts]


@pytest.mark.parametrize("database, broker_url",
                         [("postgresql", "redis"), ("sqlite", "redis"), ("postgresql", "rabbitmq")],
                         indirect=["broker_url"])
def test_flaky_task_is_replayed_until_it_succeeds_spaced_by_the_policy(database, medic, client, redis_url, tmp_path,
                                                                        request):
    initial, rate, cap = 0.5, 3.0, 2.0  # waits 0.5, 1.5, 2.0 (capped)
    plans = write_plans(tmp_path, [plan("celery-flaky", retry_step(5, initial, rate, cap, "none", timeout_s=13),
                                        {"kind": "dead_letter"})])
    db_url = request.getfixturevalue("sqlite_url") if database == "sqlite" else None
    medic.configure(plans_file=plans, database_url=db_url)
    medic.start()
    db_url = medic.db_url

    reported_at = time.time()
    report(client, make_event(celery_target("testapp.flaky", "k1", 2)))
    execution = single_execution(db_url)
    [done] = recovery.wait_execution_state(db_url, execution["id"], recovery.FINAL_STATES, timeout_s=30)
    medic.wait_quiet(client)  # a duplicate run would have shown up by now

    assert done["state"] == "succeeded", recovery.describe(db_url)
    assert done["plan_name"] == "celery-flaky"
    attempts = recovery.attempts(db_url, done["id"])
    assert [(a["step_kind"], a["step_index"], a["number"], a["state"], a["outcome"]) for a in attempts] == [
        ("retry", 0, 1, "failed", "retryable"),
        ("retry", 0, 2, "failed", "retryable"),
        ("retry", 0, 3, "succeeded", "success"),
    ], recovery.describe(db_url)
    assert attempts[0]["error"] and attempts[1]["error"]  # no result backend: medic knows the task failed, not why
    assert testapp.calls("k1", redis_url) == 3
    assert testapp.effects("k1", redis_url) == 1
    check_task_ids("k1", redis_url, done["id"], attempts)
    assert testapp.idempotency_keys("k1", redis_url) == [f"medic-execution-{done['id']}"]

    # jitter none: each wait is the policy's delay, give or take the scheduling slack.
    times = testapp.times("k1", redis_url)
    waits = [times[0] - reported_at, times[1] - times[0], times[2] - times[1]]
    for n, wait in enumerate(waits, start=1):
        expected = backoff(n, initial, rate, cap)
        assert expected - EARLY_S <= wait <= expected + SLACK_S, \
            f"attempt {n} waited {wait:.2f}s, policy {expected}s: {waits}"
    for n, attempt in enumerate(attempts, start=1):
        # never run before its time, and the stored schedule follows the policy
        assert times[n - 1] >= recovery.epoch(attempt["scheduled_for"]) - EARLY_S
        if n > 1:
            planned = recovery.epoch(attempt["scheduled_for"]) - recovery.epoch(attempts[n - 2]["finished_at"])
            assert abs(planned - backoff(n, initial, rate, cap)) <= 0.25, f"attempt {n} planned {planned:.2f}s"


def test_full_jitter_keeps_every_wait_within_its_bound(medic, client, redis_url, tmp_path):
    initial, rate, cap = 0.5, 2.0, 2.0  # bounds 0.5, 1, 2, 2
    plans = write_plans(tmp_path, [plan("celery-jitter", retry_step(6, initial, rate, cap, "full", timeout_s=13),
                                        {"kind": "dead_letter"})])
    medic.configure(plans_file=plans)
    medic.start()

    reported_at = time.time()
    report(client, make_event(celery_target("testapp.flaky", "k-jitter", 3)))
    execution = single_execution(medic.db_url)
    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=30)
    medic.wait_quiet(client)

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    attempts = recovery.attempts(medic.db_url, done["id"])
    assert [(a["step_kind"], a["number"], a["outcome"]) for a in attempts] == [
        ("retry", 1, "retryable"), ("retry", 2, "retryable"), ("retry", 3, "retryable"), ("retry", 4, "success")]
    assert testapp.calls("k-jitter", redis_url) == 4 and testapp.effects("k-jitter", redis_url) == 1
    check_task_ids("k-jitter", redis_url, done["id"], attempts)

    times = testapp.times("k-jitter", redis_url)
    waits = [times[0] - reported_at] + [b - a for a, b in zip(times, times[1:], strict=False)]
    for n, wait in enumerate(waits, start=1):
        bound = backoff(n, initial, rate, cap)
        assert 0 <= wait <= bound + SLACK_S, f"attempt {n} waited {wait:.2f}s, full jitter bound {bound}s: {waits}"
    for n in range(2, len(attempts) + 1):
        planned = recovery.epoch(attempts[n - 1]["scheduled_for"]) - recovery.epoch(attempts[n - 2]["finished_at"])
        assert -0.25 <= planned <= backoff(n, initial, rate, cap) + 0.25, f"attempt {n} planned {planned:.2f}s"


@BROKERS
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
    medic.wait_quiet(client)

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    attempts = recovery.attempts(medic.db_url, done["id"])
    assert [(a["step_kind"], a["step_index"], a["number"], a["state"], a["outcome"]) for a in attempts] == [
        ("retry", 0, 1, "failed", "retryable"),
        ("retry", 0, 2, "failed", "retryable"),
        ("retry", 0, 3, "failed", "retryable"),
        ("fallback", 1, 1, "succeeded", "success"),
    ], recovery.describe(medic.db_url)
    assert testapp.calls("k-main", redis_url) == 3 and testapp.effects("k-main", redis_url) == 0
    assert testapp.calls("k-fallback", redis_url) == 1 and testapp.effects("k-fallback", redis_url) == 1
    check_task_ids("k-main", redis_url, done["id"], attempts[:3])
    check_task_ids("k-fallback", redis_url, done["id"], attempts[3:])
    # the notify step after the fallback never ran: a success ends the execution
    assert recovery.rows(medic.db_url, "SELECT count(*) AS n FROM notifications")[0]["n"] == 0
