"""A medic replay that fails reports its exception as the attempt's outcome, not as a new error. Pure.

medic sends a replay with a ``link_error`` to ``medic.recovery.replay_failed``; without a result
backend Celery calls it with the task id only, so medic would learn that the task failed, not why.
Before a replay runs, the client puts its own errback in medic's place (`swap_errbacks`): a task of
the app whose function takes ``(request, exc, traceback, ...)``, which Celery calls in the worker with
the exception; it sends ``medic.recovery.replay_failed`` itself, with medic's kwargs and ``error=<event>``.
A Celery retry of the replay copies the request's errbacks, so the swapped one goes along.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medic_client.replays import execution_id_of

MEDIC_REPLAY_FAILED_TASK = "medic.recovery.replay_failed"
MEDIC_RECOVERY_QUEUE = "medic.recovery"
# The errback the client registers in the app.
CLIENT_REPLAY_FAILED_TASK = "medic_client.replay_failed"
ORIGINAL_KWARG = "medic_errback"
EXECUTION_KWARG = "execution_id"
# medic's callback kwarg the server's replay_failed reads the outcome from.
ERROR_KWARG = "error"


def task_of(errback: Any) -> str | None:
    return errback.get("task") if isinstance(errback, Mapping) else None


def is_medic_replay(request: Any) -> bool:
    """A replay medic sent: its header says so, or it carries medic's (or the client's swapped) errback."""
    if execution_id_of(request) is not None:
        return True
    errbacks = getattr(request, "errbacks", None) or []
    return any(task_of(e) in (MEDIC_REPLAY_FAILED_TASK, CLIENT_REPLAY_FAILED_TASK) for e in errbacks)


def client_errback(original: Mapping[str, Any], execution_id: int | None) -> dict[str, Any]:
    """The client's errback (a signature as a plain dict: JSON, as a retried message carries it) for medic's."""
    return {
        "task": CLIENT_REPLAY_FAILED_TASK,
        "args": [],
        "kwargs": {ORIGINAL_KWARG: plain_signature(original), EXECUTION_KWARG: execution_id},
        "options": {},
        "subtask_type": None,
        "immutable": False,
    }


def plain_signature(signature: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "task": signature.get("task"),
        "args": list(signature.get("args") or []),
        "kwargs": dict(signature.get("kwargs") or {}),
        "options": dict(signature.get("options") or {}),
    }


def swap_errbacks(errbacks: Any, execution_id: int | None) -> list[Any] | None:
    """errbacks with medic's replay_failed replaced by the client's; None when there is none to replace."""
    if not isinstance(errbacks, (list, tuple)):
        return None
    swapped, changed = [], False
    for errback in errbacks:
        if task_of(errback) == MEDIC_REPLAY_FAILED_TASK:
            swapped.append(client_errback(errback, execution_id))
            changed = True
        else:
            swapped.append(errback)
    return swapped if changed else None


def outcome_message(original: Any, task_id: str, event: dict[str, Any]) -> dict[str, Any]:
    """What to send medic for a failed replay: send_task's name, args, kwargs and queue."""
    signature = plain_signature(original) if isinstance(original, Mapping) else plain_signature({})
    return {
        "name": MEDIC_REPLAY_FAILED_TASK,
        "args": [task_id],
        "kwargs": {**signature["kwargs"], ERROR_KWARG: event},
        "queue": signature["options"].get("queue") or MEDIC_RECOVERY_QUEUE,
    }
