"""Keeping what a worker cannot process, instead of letting Celery drop it.

Celery acknowledges and drops a message whose body cannot be decoded, or that names no task or
an unknown one. medic keeps such a message as a rejected event: it publishes a `medic.reject`
task carrying the masked, capped payload and the reason, then lets Celery finish with the original.

Before any of that, a message over the wire limits (workers.intake.wire_limits) is kept the same way
without being decoded at all. How often a message's pool process died (WorkerLosses) bounds its
redeliveries (workers.intake.batching).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import Any

from celery import Celery
from celery.worker.consumer import Consumer

from config.settings import get_settings
from workers.intake.cut_rejections import cut_rejection
from workers.intake.wire_limits import WireLimits, refusal

log = logging.getLogger("medic.consumer")

# Deliveries of one message whose pool process died (crash, OOM kill) before it is kept as rejected
# instead of being requeued again (task_reject_on_worker_lost would requeue it forever).
MAX_WORKER_LOSSES = 3
# Deliveries remembered by the consumer; the oldest are forgotten first.
REMEMBERED_DELIVERIES = 4_096


def keep_unprocessable(app: Celery, message: Any, reason: str) -> None:
    """Publish the message's payload as a rejected event; never raises.

    The payload is cut before it is masked or decoded: the message may be huge or slow to mask."""
    try:
        raw = message.body
        raw = raw if isinstance(raw, bytes) else bytes(raw) if isinstance(raw, bytearray) else str(raw).encode()
        rejected = cut_rejection(raw, reason, get_settings().rejected_payload_max_bytes)
        delivery_id = delivery_id_of(message)
        app.send_task("medic.reject", args=[{"rejected": vars(rejected), "delivery_id": delivery_id}])
        log.warning("kept an unprocessable message as rejected", extra={"delivery_id": delivery_id, "reason": reason})
    except Exception:  # bookkeeping of a bad message must not take the worker down
        log.exception("could not keep an unprocessable message", extra={"reason": reason})


class WorkerLosses:
    """How often each delivery's pool process died, in the consumer's memory, for the newest deliveries."""

    def __init__(self, max_losses: int = MAX_WORKER_LOSSES, remember: int = REMEMBERED_DELIVERIES):
        self.max_losses = max_losses
        self.remember = remember
        self._counts: OrderedDict[str, int] = OrderedDict()

    def count(self, delivery_id: str) -> int:
        return self._counts.get(delivery_id, 0)

    def lost(self, delivery_id: str) -> bool:
        """Count one loss; True when it is the last one allowed (give up on the message)."""
        count = self._counts.pop(delivery_id, 0) + 1
        self._counts[delivery_id] = count
        while len(self._counts) > self.remember:
            self._counts.popitem(last=False)
        return count >= self.max_losses

    def __len__(self) -> int:
        return len(self._counts)


worker_losses = WorkerLosses()


class MedicConsumer(Consumer):
    def create_task_handler(self, *args: Any, **kwargs: Any):
        """Celery's handler of every task message, behind the wire limits: an oversized message is
        kept as rejected and acknowledged without being decoded (Celery would decode it right away)."""
        handle = super().create_task_handler(*args, **kwargs)
        limits = WireLimits.for_event_bytes(get_settings().max_event_bytes)

        def on_task_received(message: Any) -> Any:
            reason = refusal(message.body, message.headers, limits)
            if reason is None:
                return handle(message)
            keep_unprocessable(self.app, message, reason)
            message.ack_log_error(log, self.connection_errors)
            return None

        return on_task_received

    def on_decode_error(self, message, exc) -> None:
        keep_unprocessable(self.app, message,
                           f"undecodable message ({message.content_type}): {type(exc).__name__}: {exc}")
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body, message) -> None:
        keep_unprocessable(self.app, message,
                           "invalid message: no task name in its headers (not a Celery task message)")
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body, message, exc) -> None:
        name = (message.headers or {}).get("task")
        keep_unprocessable(self.app, message, f"invalid message: unknown task {name!r}; medic accepts 'medic.report'")
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body, message, exc) -> None:
        keep_unprocessable(self.app, message, f"invalid message: {type(exc).__name__}: {exc}")
        super().on_invalid_task(body, message, exc)


def delivery_id_of(message: Any, payload: Any = None) -> str:
    """The task id the message carries (its headers, or a protocol-1 payload), else a hash of its body."""
    message_id = (getattr(message, "headers", None) or {}).get("id")
    if not message_id and isinstance(payload, dict):
        message_id = payload.get("id")
    if message_id:
        return str(message_id)[:64]
    raw = message.body if isinstance(message.body, (bytes, bytearray)) else str(message.body).encode()
    return "raw-" + hashlib.sha256(raw).hexdigest()[:40]
