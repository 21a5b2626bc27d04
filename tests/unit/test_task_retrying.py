"""A retry that cannot be published keeps its message (requeued) instead of Celery's reject-and-drop."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.exceptions import Reject, Retry

from tasks.retrying import retry_later


class FakeTask:
    name = "medic.reject"

    def __init__(self, publish_fails: bool):
        self.request = SimpleNamespace(retries=2, id="task-1")
        self.publish_fails = publish_fails
        self.countdowns: list[float] = []

    def retry(self, *, countdown: float, exc: Exception) -> Exception:
        self.countdowns.append(countdown)
        if self.publish_fails:  # what Task.retry does when apply_async raises
            raise Reject(ConnectionError("OOM command not allowed when used memory > 'maxmemory'"), requeue=False)
        raise Retry("retry", exc=exc, when=countdown)


def test_a_retry_published_is_celerys_retry_after_a_backoff():
    task = FakeTask(publish_fails=False)
    with pytest.raises(Retry):
        raise retry_later(task, ConnectionError("database down"), initial_s=0.5, what="storing")
    assert task.countdowns and 0 < task.countdowns[0] <= 2.0  # third try: 0.5 * 2^2 with equal jitter


def test_a_retry_that_cannot_be_published_requeues_the_original():
    task = FakeTask(publish_fails=True)
    kept = retry_later(task, ConnectionError("database down"), initial_s=0.5, what="storing")
    assert isinstance(kept, Reject) and kept.requeue is True
