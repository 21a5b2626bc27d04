"""`medic.report` and `medic.reject`: decode, hand to the intake service, retry on database outage.

An event still being processed at the soft time limit is rejected, not retried: its processing, not
the database, is what took the time, and it would take it again. Past the hard time limit the pool
process is killed and the consumer keeps the message as rejected (workers.intake.consumer.IntakeRequest);
`acks_on_timeout` acknowledges it, so it is not redelivered either.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from celery import Task, shared_task, signals
from celery.exceptions import SoftTimeLimitExceeded

from config.errors import ConfigError, StorageUnavailable
from config.settings import get_settings
from tasks.recovery import recovery_service
from workers.backoff import backoff_delay_s
from workers.intake.consumer import IntakeRequest
from workers.intake.cut_rejections import cut_rejection
from workers.intake.service import IntakeService
from workers.intake.triage import Rejected
from workers.storage.db import forget_inherited_engines
from workers.task_reprs import MaskedRequest

log = logging.getLogger("medic.intake")

# First wait before retrying an event whose storage failed; doubles up to MEDIC_DB_RETRY_MAX_DELAY_S.
DB_RETRY_INITIAL_S = 0.5


@lru_cache(maxsize=1)
def intake_service() -> IntakeService:
    return IntakeService(get_settings(), recovery=recovery_service())


@signals.worker_init.connect
def _compile_rules(**_signal: Any) -> None:
    """Compile rules and plans before forking: a bad one stops the worker now, not at the first event."""
    try:
        _ = intake_service().classifier, recovery_service().plans  # cached properties: built here, once
    except ConfigError as exc:
        log.critical("invalid configuration", extra={"error": str(exc)})
        raise SystemExit(f"medic: {exc}") from None


@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    forget_inherited_engines()


class ReportRequest(MaskedRequest, IntakeRequest):
    """`medic.report`'s requests: kept when unprocessable, shown masked and summarised (Flower)."""


@shared_task(name="medic.report", bind=True, max_retries=None, Request=ReportRequest, acks_on_timeout=True)
def report(self: Task, *args: Any, **kwargs: Any) -> dict:
    """Store one reported error. The contract: exactly one positional argument, the event object."""
    service = intake_service()
    delivery_id = self.request.id
    raw = args[0] if len(args) == 1 and not kwargs else {"args": list(args), "kwargs": kwargs}
    try:
        try:
            if len(args) == 1 and not kwargs:
                outcome = service.report(raw, delivery_id=delivery_id)
            else:
                reason = (f"invalid message: expected exactly one positional argument (the event object), "
                          f"got {len(args)} positional and {len(kwargs)} keyword arguments")
                outcome = service.reject(raw, reason, delivery_id=delivery_id)
        except SoftTimeLimitExceeded:
            outcome = service.store_rejection(too_slow(raw, service.limits.rejected_payload_max_bytes),
                                              delivery_id=delivery_id)
    except StorageUnavailable as exc:
        raise _retry_later(self, exc) from exc
    _log_outcome(delivery_id, outcome.as_dict())
    return outcome.as_dict()


def too_slow(raw: Any, max_payload_bytes: int) -> Rejected:
    """The rejection of an event still being processed at the soft time limit (cut before masking:
    masking it whole may be what was slow)."""
    limit_s = get_settings().task_soft_time_limit_s
    return cut_rejection(raw, f"processing took longer than MEDIC_TASK_SOFT_TIME_LIMIT_S ({limit_s} s); "
                              "rejected, not retried", max_payload_bytes)


@shared_task(name="medic.reject", bind=True, max_retries=None)
def reject(self: Task, rejection: dict) -> dict:
    """Store a message the consumer could not decode (see workers.intake.consumer)."""
    try:
        outcome = intake_service().store_rejection(Rejected(**rejection["rejected"]),
                                                   delivery_id=rejection["delivery_id"])
    except (StorageUnavailable, SoftTimeLimitExceeded) as exc:
        # The payload is already cut and masked: only storage can have taken the time.
        raise _retry_later(self, exc) from exc
    _log_outcome(rejection["delivery_id"], outcome.as_dict())
    return outcome.as_dict()


def _retry_later(task: Task, exc: Exception) -> Exception:
    delay_s = backoff_delay_s(task.request.retries, initial_s=DB_RETRY_INITIAL_S,
                              max_s=get_settings().db_retry_max_delay_s, jitter="equal")
    log.warning("storage unavailable, event will be retried", extra={
        "delivery_id": task.request.id, "retry": task.request.retries + 1, "delay_s": round(delay_s, 2),
        "error": str(exc)})
    return task.retry(countdown=delay_s, exc=exc)


def _log_outcome(delivery_id: str, outcome: dict) -> None:
    level = logging.WARNING if outcome["status"] == "rejected" else logging.INFO
    log.log(level, f"event {outcome['status']}", extra={"delivery_id": delivery_id, **outcome})
