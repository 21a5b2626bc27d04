"""`medic.report` and `medic.reject`.

`medic.report` messages are consumed in batches (workers.intake.batching holds them in the consumer);
`run_batch` is what a pool process runs for a batch: decode each message, triage each event, store
the batch in one transaction. An event still being processed at the soft time limit is rejected as
too slow only when it was the batch's first (it had the whole time to itself); the events after it
run again in another batch. A database outage leaves the whole batch to run again.
"""

from __future__ import annotations

import logging
from collections import Counter
from functools import lru_cache
from typing import Any

from celery import Task, shared_task, signals
from celery.exceptions import SoftTimeLimitExceeded
from kombu.exceptions import ContentDisallowed, DecodeError
from kombu.serialization import loads

from config.errors import ConfigError, StorageUnavailable
from config.settings import get_settings
from tasks.recovery import recovery_service
from tasks.retrying import retry_later
from workers.intake.batching import DB_RETRY_INITIAL_S
from workers.intake.cut_rejections import cut_rejection
from workers.intake.service import IntakeService
from workers.intake.store import Arrival
from workers.intake.triage import Rejected
from workers.storage.db import forget_inherited_engines

log = logging.getLogger("medic.intake")

ACCEPTED_CONTENT = {"application/json"}


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


@shared_task(name="medic.report", bind=True, Strategy="workers.intake.batching:batch_strategy")
def report(self: Task, *args: Any, **kwargs: Any) -> dict:
    """Store one reported error. The contract: exactly one positional argument, the event object.

    A worker never runs this body: it consumes `medic.report` in batches (run_batch)."""
    service = intake_service()
    delivery_id = self.request.id or "local"
    outcome = service.store([Arrival(delivery_id, _decide(service, args, kwargs))])[delivery_id]
    return outcome.as_dict()


def run_batch(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch of `medic.report` messages, in a pool process: {"later": ids to run again} or {"retry": why}."""
    service = intake_service()
    arrivals: list[Arrival] = []
    later: list[str] = []
    for position, item in enumerate(items):
        raw: Any = None
        try:
            args, kwargs = _unpack(item)
            raw = args[0] if len(args) == 1 and not kwargs else {"args": list(args), "kwargs": kwargs}
            arrivals.append(Arrival(item["id"], _decide(service, args, kwargs)))
        except SoftTimeLimitExceeded:
            if position == 0:
                slow = too_slow(raw if raw is not None else _raw_of(item), service.limits.rejected_payload_max_bytes)
                arrivals.append(Arrival(item["id"], slow))
            later = [i["id"] for i in items[position + (position == 0):]]
            break
        except _Undecodable as exc:
            arrivals.append(Arrival(item["id"], service.rejection(_raw_of(item), str(exc))))
        except Exception as exc:  # a bug in triage must cost this event only
            log.exception("could not process an event; kept as rejected", extra={"delivery_id": item["id"]})
            reason = f"unprocessable event: {type(exc).__name__}: {exc}"
            arrivals.append(Arrival(item["id"], service.rejection(raw if raw is not None else _raw_of(item), reason)))
    try:
        outcomes = service.store(arrivals)
    except (StorageUnavailable, SoftTimeLimitExceeded) as exc:
        return {"retry": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # a bug in storing: the events are kept for another try, never dropped
        log.exception("could not store a batch; it will run again", extra={"events": len(arrivals)})
        return {"retry": f"{type(exc).__name__}: {exc}"[:500]}
    _log_batch(outcomes, later)
    return {"later": later}


def _unpack(item: dict[str, Any]) -> tuple[tuple, dict]:
    """The task's (args, kwargs) from a message; raises ValueError naming what is wrong."""
    if "payload" in item:  # task protocol 1, decoded by the consumer
        payload = item["payload"]
        return tuple(payload.get("args") or ()), dict(payload.get("kwargs") or {})
    try:
        body = loads(item["body"], item["content_type"], item["content_encoding"], accept=ACCEPTED_CONTENT)
    except (ContentDisallowed, DecodeError) as exc:
        raise _Undecodable(f"undecodable message ({item['content_type']}): {type(exc).__name__}: {exc}") from exc
    if not (isinstance(body, (list, tuple)) and len(body) == 3 and isinstance(body[0], (list, tuple))
            and isinstance(body[1], dict)):
        raise _Undecodable("invalid message: not a Celery task message body ([args, kwargs, embed])")
    return tuple(body[0]), body[1]


class _Undecodable(ValueError):
    """A message that is not a decodable Celery task message: kept as rejected, with this reason."""


def _decide(service: IntakeService, args: Any, kwargs: Any = None):
    if len(args) == 1 and not kwargs:
        return service.decide(args[0])
    reason = (f"invalid message: expected exactly one positional argument (the event object), "
              f"got {len(args)} positional and {len(kwargs or {})} keyword arguments")
    return service.rejection({"args": list(args), "kwargs": kwargs or {}}, reason)


def _raw_of(item: dict[str, Any]) -> Any:
    if "payload" in item:
        return item["payload"]
    body = item.get("body")
    return body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body


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
    return retry_later(task, exc, initial_s=DB_RETRY_INITIAL_S, what="storing a rejected event",
                       delivery_id=task.request.id)


def _log_outcome(delivery_id: str, outcome: dict) -> None:
    level = logging.WARNING if outcome["status"] == "rejected" else logging.DEBUG
    log.log(level, f"event {outcome['status']}", extra={"delivery_id": delivery_id, **outcome})


def _log_batch(outcomes: dict[str, Any], later: list[str]) -> None:
    """A rejection each at WARNING, every outcome at DEBUG (built only when DEBUG is on: a hot path)."""
    each = log.isEnabledFor(logging.DEBUG)
    for delivery_id, outcome in outcomes.items():
        if each or outcome.status == "rejected":
            _log_outcome(delivery_id, outcome.as_dict())
    counts = Counter(outcome.status for outcome in outcomes.values())
    log.info("batch stored", extra={"events": len(outcomes), **counts, "later": len(later)})
