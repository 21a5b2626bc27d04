"""What an event's target may call (workers/recovery/target_policy.py): the attacks of issue 12, item 3."""

from __future__ import annotations

import pytest

from config.replay_targets import ReplayTargetSettings
from workers.recovery.plans import ActionStep, FallbackStep, RetryStep
from workers.recovery.target_policy import named_by_plan, plan_problems, refusal

# An operator who allows everything an app might name: the reserved names must still be refused.
EVERYTHING = ReplayTargetSettings(celery_tasks=["*"], celery_queues=["*"], actions=["*"])
ORDERS = ReplayTargetSettings(celery_tasks=["orders.tasks.*"], celery_queues=["orders"], actions=["noop"])
NOTHING = ReplayTargetSettings()


def celery(task: str, queue: str | None = "orders") -> dict:
    return {"kind": "celery", "task": task, "args": [], "kwargs": {}, "queue": queue}


@pytest.mark.parametrize("task", ["medic.recovery.replay_succeeded", "medic.recovery.replay_failed",
                                  "medic.maintenance.run", "medic.report", "Medic.Report", "celery.backend_cleanup",
                                  "celery.chord_unlock", "celery.accumulate"])
@pytest.mark.parametrize("by_plan", [False, True])
def test_medic_and_celery_tasks_are_refused_whatever_the_allowlist(task, by_plan):
    why = refusal(celery(task), by_plan=by_plan, allowed=EVERYTHING)
    assert why is not None and f"task {task} " in why and "MEDIC_REPLAY_TARGETS__CELERY_TASKS" in why


@pytest.mark.parametrize("queue", ["medic.recovery", "medic.errors", "medic.maintenance", "medic.recovery.extra",
                                   "medic", "MEDIC.recovery"])
@pytest.mark.parametrize("by_plan", [False, True])
def test_medic_queues_are_refused_whatever_the_allowlist(queue, by_plan):
    why = refusal(celery("orders.tasks.push", queue), by_plan=by_plan, allowed=EVERYTHING)
    assert why is not None and f"queue {queue} " in why and "MEDIC_REPLAY_TARGETS__CELERY_QUEUES" in why


def test_a_task_not_allowlisted_is_refused_naming_the_setting():
    assert refusal(celery("orders.push"), by_plan=False, allowed=ORDERS) == \
        "task orders.push is not in MEDIC_REPLAY_TARGETS__CELERY_TASKS"
    assert refusal(celery("billing.tasks.refund"), by_plan=False, allowed=ORDERS) == \
        "task billing.tasks.refund is not in MEDIC_REPLAY_TARGETS__CELERY_TASKS"


def test_a_queue_not_allowlisted_is_refused_and_no_queue_means_celery():
    assert refusal(celery("orders.tasks.push", "billing"), by_plan=False, allowed=ORDERS) == \
        "queue billing is not in MEDIC_REPLAY_TARGETS__CELERY_QUEUES"
    assert refusal(celery("orders.tasks.push", None), by_plan=False, allowed=ORDERS) == \
        "queue celery is not in MEDIC_REPLAY_TARGETS__CELERY_QUEUES"


def test_allowlisted_tasks_and_queues_pass():
    assert refusal(celery("orders.tasks.push"), by_plan=False, allowed=ORDERS) is None


def test_empty_allowlists_refuse_every_event_target_but_not_the_plans_own():
    assert refusal(celery("orders.tasks.push"), by_plan=False, allowed=NOTHING) is not None
    assert refusal({"kind": "action", "name": "log"}, by_plan=False, allowed=NOTHING) == \
        "action log is not in MEDIC_REPLAY_TARGETS__ACTIONS"
    assert refusal(celery("orders.tasks.push"), by_plan=True, allowed=NOTHING) is None
    assert refusal({"kind": "action", "name": "log"}, by_plan=True, allowed=NOTHING) is None


def test_an_action_not_allowlisted_is_refused():
    assert refusal({"kind": "action", "name": "noop"}, by_plan=False, allowed=ORDERS) is None
    assert refusal({"kind": "action", "name": "wipe_cache"}, by_plan=False, allowed=ORDERS) == \
        "action wipe_cache is not in MEDIC_REPLAY_TARGETS__ACTIONS"


def test_http_targets_are_not_judged_here():
    assert refusal({"kind": "http", "url": "https://x.example/"}, by_plan=False, allowed=NOTHING) is None


def test_which_steps_name_their_own_target():
    assert named_by_plan(ActionStep(kind="action", name="noop"))
    assert named_by_plan(FallbackStep(kind="fallback", target=celery("orders.tasks.push")))
    assert not named_by_plan(FallbackStep(kind="fallback"))
    assert not named_by_plan(RetryStep(kind="retry"))


def test_a_plan_naming_a_medic_task_is_a_configuration_problem():
    steps = [("plan a, step 1", FallbackStep(kind="fallback", target=celery("medic.maintenance.run"))),
             ("plan b, step 1", FallbackStep(kind="fallback", target=celery("orders.tasks.push", "medic.recovery"))),
             ("plan c, step 1", FallbackStep(kind="fallback", target=celery("orders.tasks.push"))),
             ("plan d, step 1", RetryStep(kind="retry"))]
    problems = plan_problems(steps)
    assert len(problems) == 2
    assert problems[0].startswith("plan a, step 1, field target: task medic.maintenance.run")
    assert problems[1].startswith("plan b, step 1, field target: queue medic.recovery")


def test_allowlist_globs_are_validated_and_read_from_commas():
    settings = ReplayTargetSettings(celery_tasks="orders.tasks.*, billing.refund")  # type: ignore[arg-type]
    assert settings.celery_tasks == ["orders.tasks.*", "billing.refund"]
    with pytest.raises(ValueError):
        ReplayTargetSettings(celery_tasks=["orders tasks"])
    with pytest.raises(ValueError):
        ReplayTargetSettings(callback_secret="too short")  # type: ignore[arg-type]
