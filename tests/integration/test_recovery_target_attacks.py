"""Events that try to make medic run what it must not (issue 12, item 3), against real processes:
medic's worker and beat, and the test app's `celery worker` (tests/support/testapp.py).

- a forged `medic.recovery.replay_succeeded` / `replay_failed` (no signature, a wrong one, one for
  another replay) changes no attempt: only the callbacks medic signed are recorded;
- an event's target naming a medic.* or celery.* task, a medic queue, a task or queue or action the
  allowlists (MEDIC_REPLAY_TARGETS__*) do not name, is refused: that step fails permanently naming the
  setting, the execution goes on to its next step, and nothing is sent.
"""

from __future__ import annotations

import uuid

import pytest
import redis
from sqlalchemy import select

from config.errors import ConfigError
from config.settings import load_settings
from tests.support import recovery, testapp
from tests.support.recovery import celery_target, make_event, plan, report, retry_step, write_plans
from tests.support.services import wait_for
from workers.recovery.actions import ActionRegistry
from workers.recovery.callback_key import KEY_NAME, callback_key, stored_key
from workers.recovery.callback_signing import sign
from workers.recovery.service import load_plan_set
from workers.storage.db import session_factory
from workers.storage.models import SigningKey

pytestmark = pytest.mark.integration

SLOW_S = 6.0  # the victim's replay runs this long: the forged callbacks arrive while it waits


def attempt_of(db_url: str, execution_id: int) -> dict:
    [attempt] = recovery.attempts(db_url, execution_id)
    return attempt


def wait_running(db_url: str, execution_id: int) -> dict:
    recovery.wait_execution_state(db_url, execution_id, "running", timeout_s=20)
    return attempt_of(db_url, execution_id)


def forge(client, task: str, *args, **options) -> str:
    """A callback sent by someone who can write to the broker, as medic's replays' callbacks look."""
    task_id = f"forged-{uuid.uuid4().hex[:8]}"
    client.send_task(task, args=list(args), queue="medic.recovery", task_id=task_id, **options)
    return task_id


def test_forged_callbacks_change_nothing_and_the_signed_one_is_recorded(medic, client, redis_url, tmp_path):
    plans = write_plans(tmp_path, [plan("victim", retry_step(1, timeout_s=30), {"kind": "dead_letter"})])
    medic.configure(plans_file=plans)
    medic.start()
    db_url = medic.db_url

    report(client, make_event(celery_target("testapp.slow", "victim", SLOW_S)))
    [execution] = recovery.wait_executions(db_url, 1, timeout_s=20)
    attempt = wait_running(db_url, execution["id"])
    replay_task_id = f"medic-{execution['id']}-{attempt['id']}"
    # The app runs the replay: medic signed its callbacks, with the key it stored on first use.
    wait_for(lambda: testapp.calls("victim", redis_url) == 1, timeout_s=20, what="the victim's replay to start")
    [key] = recovery.rows(db_url, "SELECT key FROM signing_keys WHERE name = :n", n=KEY_NAME)
    other_replay = sign(bytes.fromhex(key["key"]), attempt["id"], "medic-999-999")

    forged = [
        # as it was before signing (and as a callback in flight at the upgrade is): no signature
        forge(client, "medic.recovery.replay_succeeded", {"forged": True}, kwargs={"attempt_id": attempt["id"]}),
        forge(client, "medic.recovery.replay_succeeded", {"forged": True},
              kwargs={"attempt_id": attempt["id"], "signature": "0" * 64}, parent_id=replay_task_id),
        # medic's signature of another replay of the attempt: bound to that replay's task id
        forge(client, "medic.recovery.replay_succeeded", {"forged": True},
              kwargs={"attempt_id": attempt["id"], "signature": other_replay}, parent_id=replay_task_id),
        forge(client, "medic.recovery.replay_failed", replay_task_id,
              kwargs={"attempt_id": attempt["id"], "signature": None}),
        forge(client, "medic.recovery.replay_succeeded", kwargs={"attempt_id": "1 OR 1=1", "signature": "x"}),
    ]
    recovery.wait_tasks_ran(medic.worker_logs, forged, timeout_s=20)

    assert attempt_of(db_url, execution["id"])["state"] == "running", recovery.describe(db_url)
    assert recovery.execution(db_url, execution["id"])["state"] == "running"
    worker_log = "".join(path.read_text() for path in medic.worker_logs())
    assert worker_log.count("replay callback ignored: not signed by medic") == len(forged)

    [done] = recovery.wait_execution_state(db_url, execution["id"], recovery.FINAL_STATES, timeout_s=30)
    assert done["state"] == "succeeded", recovery.describe(db_url)
    final = attempt_of(db_url, execution["id"])
    assert final["outcome"] == "success" and final["detail"]["result"] == {"ok": True}  # the app's, not forged
    assert testapp.effects("victim", redis_url) == 1


def test_event_targets_outside_the_allowlists_or_medics_own_are_refused_and_nothing_is_sent(
        medic, client, redis_url, tmp_path):
    attack = plan("attack", retry_step(3, timeout_s=30), {"kind": "notify", "channel": "log"},
                  {"kind": "dead_letter"}, service="attack-*")
    victim = plan("victim", retry_step(1, timeout_s=30), {"kind": "dead_letter"})
    trusted = plan("trusted", {"kind": "action", "name": "log", "params": {"said": "by the plan"}},
                   service="trusted", priority=200)
    plans = write_plans(tmp_path, [attack, victim, trusted])
    # Globs that would match medic's and Celery's tasks and medic's queues: they are refused all the same.
    medic.configure(plans_file=plans, replay_targets__celery_tasks="testapp.*,medic.*,celery.*",
                    replay_targets__celery_queues="testapp,medic.*", replay_targets__actions="noop")
    medic.start()
    db_url = medic.db_url

    report(client, make_event(celery_target("testapp.slow", "victim", SLOW_S)))
    [victim_execution] = recovery.wait_executions(db_url, 1, timeout_s=20)
    victim_attempt = wait_running(db_url, victim_execution["id"])

    targets = {
        "attack-forge": (celery_target("medic.recovery.replay_succeeded", queue="medic.recovery",
                                       attempt_id=victim_attempt["id"]),
                         "task medic.recovery.replay_succeeded is medic's or Celery's own"),
        "attack-backup": (celery_target("medic.maintenance.run", "backup", queue="medic.maintenance"),
                          "task medic.maintenance.run is medic's or Celery's own"),
        "attack-builtin": (celery_target("celery.backend_cleanup"), "task celery.backend_cleanup is medic's or"),
        "attack-queue": (celery_target("testapp.ping", "attack-queue", queue="medic.recovery"),
                         "queue medic.recovery is medic's own"),
        "attack-task": (celery_target("orders.push", queue="testapp"),
                        "task orders.push is not in MEDIC_REPLAY_TARGETS__CELERY_TASKS"),
        "attack-other-queue": (celery_target("testapp.ping", "attack-other-queue", queue="billing"),
                               "queue billing is not in MEDIC_REPLAY_TARGETS__CELERY_QUEUES"),
        "attack-action": ({"kind": "action", "name": "log", "params": {}},
                          "action log is not in MEDIC_REPLAY_TARGETS__ACTIONS"),
    }
    for service, (target, _) in targets.items():
        report(client, make_event(target, service=service))
    report(client, make_event({"kind": "action", "name": "noop", "params": {}}, service="attack-allowed"))
    report(client, make_event({"kind": "action", "name": "wipe", "params": {}}, service="trusted"))

    ended = recovery.wait_execution_state(db_url, lambda e: e["service"].startswith(("attack-", "trusted")),
                                          recovery.FINAL_STATES, timeout_s=30, count=len(targets) + 2)
    by_service = {e["service"]: e for e in ended}
    for service, (_, why) in targets.items():
        execution = by_service[service]
        attempts = recovery.attempts(db_url, execution["id"])
        assert execution["state"] == "dead", (service, recovery.describe(db_url))
        # one refused try, not three: a refusal is permanent; then the next steps (notify, dead letter)
        assert [(a["step_kind"], a["outcome"]) for a in attempts] == [("retry", "permanent"), ("notify", "success")]
        assert why in attempts[0]["error"], (service, attempts[0]["error"])
    assert by_service["attack-allowed"]["state"] == "succeeded"
    assert by_service["trusted"]["state"] == "succeeded"  # the plan's own action: the operator's word

    # Nothing was sent: the victim still waits for its own replay, no maintenance message is queued,
    # and the app's worker ran none of the refused tasks (its queue is drained up to a round trip).
    assert attempt_of(db_url, victim_execution["id"])["state"] == "running"
    medic.wait_quiet(client)
    assert redis.Redis.from_url(redis_url).llen("medic.maintenance") == 0
    assert recovery.rows(db_url, "SELECT id FROM maintenance_runs") == []
    app_log = "".join(process.log_path.read_text() for name, process in medic.processes if name == "testapp")
    for refused in ("orders.push", "celery.backend_cleanup"):
        assert refused not in app_log
    assert testapp.calls("attack-queue", redis_url) == testapp.calls("attack-other-queue", redis_url) == 0
    [done] = recovery.wait_execution_state(db_url, victim_execution["id"], recovery.FINAL_STATES, timeout_s=30)
    assert done["state"] == "succeeded", recovery.describe(db_url)


def test_a_plan_naming_medics_own_task_does_not_load(tmp_path, sqlite_url):
    plans = write_plans(tmp_path, [plan("bad", {"kind": "fallback", "target": celery_target("medic.maintenance.run",
                                                                                        queue="medic.maintenance")})])
    settings = load_settings(database_url=sqlite_url, plans_files=[plans])
    with pytest.raises(ConfigError, match="plan 'bad', step 1, field target: task medic.maintenance.run"):
        load_plan_set(settings, ActionRegistry())


def test_the_callback_key_is_generated_once_and_the_setting_wins(database_url):
    sessions = session_factory(database_url)
    with sessions() as session:
        first = stored_key(session, KEY_NAME)
    with sessions() as session:
        assert stored_key(session, KEY_NAME) == first and len(first) == 32
        assert len(session.scalars(select(SigningKey)).all()) == 1
    configured = load_settings(database_url=database_url, replay_targets={"callback_secret": "s" * 40})
    with sessions() as session:
        assert callback_key(configured, session) == b"s" * 40
        assert callback_key(load_settings(database_url=database_url), session) == first
