"""Is this code running as one of medic's replays? `is_replay()`, `current_execution_id()`.

medic sends a Celery replay with the header ``medic_execution_id`` (the execution it belongs to) and
``medic_idempotency_key`` (the key the side effect must be done once under). A task that reports its
own errors while being replayed must not start a second recovery: the event then carries
``medic_execution_id`` and medic records it without starting one.
"""

from __future__ import annotations

from typing import Any

# Message headers of a replay medic sends (Celery shows them as attributes of `task.request`).
EXECUTION_HEADER = "medic_execution_id"
IDEMPOTENCY_HEADER = "medic_idempotency_key"
# The event field that says "reported during this execution's replay".
EVENT_FIELD = "medic_execution_id"


def current_execution_id() -> int | None:
    """The execution medic is replaying in the current Celery task, None outside one (or outside Celery)."""
    return execution_id_of(_current_request())


def is_replay() -> bool:
    """True inside a Celery task medic sent as a replay."""
    return current_execution_id() is not None


def idempotency_key() -> str | None:
    """The key medic replays the current task under (the event's own key when it had one), else None."""
    request = _current_request()
    value = _header(request, IDEMPOTENCY_HEADER)
    return value if isinstance(value, str) and value else None


def execution_id_of(request: Any) -> int | None:
    value = _header(request, EXECUTION_HEADER)
    return value if type(value) is int and value > 0 else None


def _current_request() -> Any:
    try:
        from celery import current_task
    except ImportError:  # the client works without Celery (HTTP, logging): then nothing is a replay
        return None
    try:
        task = current_task
        return task.request if task else None
    except Exception:
        return None


def _header(request: Any, name: str) -> Any:
    if request is None:
        return None
    try:
        value = request.get(name)
        if value is None:
            value = (getattr(request, "headers", None) or {}).get(name)
        return value
    except Exception:
        return None
