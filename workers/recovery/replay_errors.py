"""What a failed Celery replay comes to, when the app's medic_client reported its exception.

Without the client, Celery's errback carries only the task id: medic knows the replay failed, not why,
and takes it as retryable. With it, the errback carries the exception as an event; it is triaged as any
event (the same bounds, the same rules), so a permanent error moves the plan on at once and does not
count against the service's breaker. The event is the app's word, as untrusted as any event: a report
that does not pass intake's checks is ignored and the failure is taken as retryable, as without one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workers.classification import Classifier
from workers.intake.triage import Limits, Rejected, triage
from workers.recovery import outcomes
from workers.recovery.outcomes import AttemptResult

# Longest error text an attempt keeps of a reported exception.
ERROR_MAX_CHARS = 500


def replay_failure(error: Any, *, task_id: str | None, limits: Limits, classifier: Classifier,
                   now: datetime) -> AttemptResult:
    """The outcome of a failed replay; `error`: the event the app's client sent with the errback, or None."""
    failed = f"the replayed task failed (task id {task_id})"
    if error is None:
        return outcomes.retryable(failed, task_id=task_id)
    decision = triage(error, limits=limits, classifier=classifier, received_at=now)
    if isinstance(decision, Rejected):
        return outcomes.retryable(f"{failed}; its report was ignored: {decision.reason}"[:ERROR_MAX_CHARS],
                                  task_id=task_id)
    event, verdict = decision.event, decision.classification  # masked at triage
    text = f"{event['error_type']}: {event['message']}" if event["message"] else event["error_type"]
    if verdict.retryable:
        return outcomes.retryable(text[:ERROR_MAX_CHARS], task_id=task_id, category=verdict.category, reported=True)
    return outcomes.permanent(text[:ERROR_MAX_CHARS], task_id=task_id, category=verdict.category, reported=True)
