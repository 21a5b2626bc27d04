"""What the client reports of a Celery task that failed for good: its replay target and event fields. Pure.

The replay target is the task itself, sent again by name with the same arguments to the queue it came
from; medic can only send what JSON carries, so arguments that are not plain JSON leave the event
without a replay target (and its context says why).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

IDEMPOTENCY_PREFIX = "celery-task-"
NAME_MAX_CHARS = 256
JSON_DEPTH_MAX = 32
# Context keys of a reported task.
NO_REPLAY_REASON_KEY = "replay_left_out"


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """True when value is made only of dict (str keys)/list/tuple/str/int/float (finite)/bool/None."""
    if depth > JSON_DEPTH_MAX:
        return False
    if value is None or type(value) in (str, bool, int):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) in (list, tuple):
        return all(is_plain_json(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(key) is str and is_plain_json(item, depth + 1) for key, item in value.items())
    return False


def queue_of(delivery_info: Mapping[str, Any] | None, task_queue: Any, default_queue: Any) -> str | None:
    """The queue a task came from: the message's routing key, else the task's queue, else the app's default."""
    for candidate in ((delivery_info or {}).get("routing_key"), task_queue, default_queue):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()[:NAME_MAX_CHARS]
    return None


def replay_target(task_name: str, args: Any, kwargs: Any,
                  queue: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """(the task as a medic `celery` target, None) or (None, why there is none)."""
    args = list(args) if isinstance(args, (list, tuple)) else [] if args is None else args
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(args, list) or not is_plain_json(args):
        return None, "the task's args are not plain JSON"
    if not isinstance(kwargs, dict) or not is_plain_json(kwargs):
        return None, "the task's kwargs are not plain JSON"
    target: dict[str, Any] = {"kind": "celery", "task": task_name, "args": args, "kwargs": dict(kwargs)}
    if queue:
        target["queue"] = queue
    return target, None


def idempotency_key(task_id: Any) -> str | None:
    """`celery-task-<task id>`: the same for every report of one task run (a duplicate report is one execution)."""
    if not isinstance(task_id, str) or not task_id:
        return None
    return (IDEMPOTENCY_PREFIX + task_id)[:NAME_MAX_CHARS]


def source_of(app_main: Any) -> str | None:
    """The app's main name as the event's source; Celery's placeholder names are none."""
    if not isinstance(app_main, str) or not app_main.strip() or app_main.strip() == "__main__":
        return None
    return app_main.strip()[:NAME_MAX_CHARS]


def task_context(task_id: Any, retries: Any, hostname: Any, no_replay_reason: str | None = None) -> dict[str, Any]:
    """The event's context: which run of the task failed, where."""
    context: dict[str, Any] = {"task_id": task_id, "retries": retries if type(retries) is int else None,
                               "hostname": hostname if isinstance(hostname, str) else None}
    if no_replay_reason:
        context[NO_REPLAY_REASON_KEY] = no_replay_reason
    return {key: value for key, value in context.items() if value is not None}
