"""Which Celery tasks, queues and plugin actions a replay may call: the event's word is not enough.

An event is untrusted (docs/security.md): what its `replay`, `fallback` or `compensate` target
names must match the operator's allowlists (MEDIC_REPLAY_TARGETS__*). What a plan names itself is
the operator's word and needs no allowlist. medic's own tasks, Celery's built-in tasks and medic's
queues are refused whoever names them: a replay of medic.recovery.replay_succeeded could end another
execution, medic.maintenance.run starts a maintenance job. So is a message header Celery or medic reads
(`task`, `eta`, `medic_execution_id`...): the contract rejects it at intake, this is the second line.
Pure: the settings are passed in.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from config.queues import QUEUES
from config.replay_targets import ReplayTargetSettings
from medic_client.celery_targets import is_reserved_header

TASKS_SETTING = "MEDIC_REPLAY_TARGETS__CELERY_TASKS"
QUEUES_SETTING = "MEDIC_REPLAY_TARGETS__CELERY_QUEUES"
ACTIONS_SETTING = "MEDIC_REPLAY_TARGETS__ACTIONS"
# Compared in lower case: the refusal must not hang on a name's spelling.
RESERVED_TASKS = ("medic.*", "celery.*")
RESERVED_QUEUES = ("medic", "medic.*", *QUEUES)
# Where Celery sends a task that names no queue (workers/recovery/dispatch.py sends it there too).
DEFAULT_QUEUE = "celery"


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def is_reserved_task(name: str) -> bool:
    return _matches(name.lower(), RESERVED_TASKS)


def is_reserved_queue(name: str) -> bool:
    return _matches(name.lower(), RESERVED_QUEUES)


def named_by_plan(step: Any) -> bool:
    """An action step names its action; a fallback, compensate or inform step may carry its own target."""
    return getattr(step, "kind", None) == "action" or getattr(step, "target", None) is not None


def refusal(target: dict[str, Any], *, by_plan: bool, allowed: ReplayTargetSettings) -> str | None:
    """Why `target` must not run (naming the setting that would allow it), or None when it may.

    HTTP targets are not judged here (workers/recovery/http_replay.py)."""
    kind = target.get("kind")
    if kind == "celery":
        return _reserved_headers_refusal(target.get("headers")) or _celery_refusal(
            str(target.get("task")), str(target.get("queue") or DEFAULT_QUEUE), by_plan=by_plan, allowed=allowed)
    if kind == "action":
        name = str(target.get("name"))
        if not by_plan and not _matches(name, allowed.actions):
            return f"action {name} is not in {ACTIONS_SETTING}"
    return None


def _reserved_headers_refusal(headers: Any) -> str | None:
    """A second line behind the contract (which rejects such an event at intake): a target that never
    passed it (a stored copy, one built in code) still never sets a header Celery or medic reads."""
    if not isinstance(headers, dict):
        return None
    reserved = sorted(str(name)[:128] for name in headers if not isinstance(name, str) or is_reserved_header(name))
    if reserved:
        return f"header {', '.join(reserved[:32])} is Celery's or medic's own and is never set by a replay target"
    return None


def _celery_refusal(task: str, queue: str, *, by_plan: bool, allowed: ReplayTargetSettings) -> str | None:
    if is_reserved_task(task):
        return f"task {task} is medic's or Celery's own and is never replayed (whatever {TASKS_SETTING} allows)"
    if is_reserved_queue(queue):
        return f"queue {queue} is medic's own and never takes a replay (whatever {QUEUES_SETTING} allows)"
    if by_plan:
        return None
    if not _matches(task, allowed.celery_tasks):
        return f"task {task} is not in {TASKS_SETTING}"
    if not _matches(queue, allowed.celery_queues):
        return f"queue {queue} is not in {QUEUES_SETTING}"
    return None


def plan_problems(plans: Iterable[tuple[str, Any]]) -> list[str]:
    """One message per plan step whose own Celery target names medic's or Celery's tasks or medic's queues.

    `plans`: (where, step) pairs, where says which file, plan and step."""
    problems = []
    for where, step in plans:
        target = getattr(step, "target", None)
        if target is None or getattr(target, "kind", None) != "celery":
            continue
        why = _celery_refusal(target.task, target.queue or DEFAULT_QUEUE, by_plan=True,
                              allowed=ReplayTargetSettings())
        if why:
            problems.append(f"{where}, field target: {why}")
    return problems
