"""A task retried after database trouble, without ever dropping its message.

`Task.retry` publishes a copy of the message with a countdown, then the original is acknowledged.
When that publish fails (the broker refusing writes: out of memory, a full disk), Celery raises
`Reject(requeue=False)` and the original is acknowledged all the same: the message is gone, neither
stored nor queued. Here that case requeues the original instead (on Redis, if even that cannot be
written, it stays unacknowledged and comes back after the visibility timeout).
"""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import Reject

from config.settings import get_settings
from workers.backoff import backoff_delay_s

log = logging.getLogger("medic.tasks")


def retry_later(task: Task, exc: Exception, *, initial_s: float, what: str, **fields: object) -> Exception:
    """The exception to raise from the task: Celery's Retry, or a requeue of the original message."""
    delay_s = backoff_delay_s(task.request.retries, initial_s=initial_s, max_s=get_settings().db_retry_max_delay_s,
                              jitter="equal")
    log.warning(f"{what} will be retried", extra={
        "task": task.name, "task_id": task.request.id, "retry": task.request.retries + 1, "delay_s": round(delay_s, 2),
        "error": f"{type(exc).__name__}: {exc}", **fields})
    try:
        return task.retry(countdown=delay_s, exc=exc)
    except Reject as rejected:
        if rejected.requeue:
            raise
        log.warning("the retry could not be published; the message is kept (requeued) instead", extra={
            "task": task.name, "task_id": task.request.id, "error": str(rejected.reason)})
        return Reject(rejected.reason, requeue=True)
