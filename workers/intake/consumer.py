"""Keeping what a worker cannot process, instead of letting Celery drop it.

Celery acknowledges and drops a message whose body cannot be decoded, that names no task or
an unknown one, or whose task fails outside its own error handling (the body of a protocol-2
message is decoded in the pool process, after the consumer has accepted it). medic keeps such
a message as a rejected event: it publishes a `medic.reject` task carrying the masked, capped
payload and the reason, then lets Celery finish with the original.

Before any of that, a message over the wire limits (workers.intake.wire_limits) is kept the same way
without being decoded at all, and a message whose pool process dies is redelivered at most
MAX_WORKER_LOSSES times.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import Any

from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery import Celery
from celery.exceptions import Reject, Retry
from celery.worker.consumer import Consumer
from celery.worker.request import Request

from config.settings import get_settings
from workers.intake.cut_rejections import cut_rejection
from workers.intake.wire_limits import WireLimits, refusal
from workers.task_reprs import sender_repr

log = logging.getLogger("medic.consumer")

# Task outcomes that are control flow, not a failure to keep.
_CONTROL = (Retry, Reject)
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
        delivery_id = _delivery_id(message, raw)
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


class IntakeRequest(Request):
    """Request class of `medic.report`.

    The arguments' text form travels in task events (Flower) and failure logs: it is masked,
    since an app's event may carry secrets. A failure outside the task's own handling is kept.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for key in ("argsrepr", "kwargsrepr"):  # the sender's text: cut before it is masked
            masked = sender_repr(self._request_dict.get(key))
            self._request_dict[key] = masked
            setattr(self, f"_{key}", masked)

    _kept = False

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        exc = exc_info.exception
        exc = exc.exc if isinstance(exc, ExceptionWithTraceback) else exc
        if self._already_revoked or isinstance(exc, (*_CONTROL, MemoryError)):
            pass
        elif isinstance(exc, TimeLimitExceeded):
            self._keep(_hard_limit_reason(exc.args[0] if exc.args else "?"))
        elif isinstance(exc, (WorkerLostError, SystemExit, KeyboardInterrupt)):
            # Celery requeues it (a pool process's exit counts as lost, unless medic cancelled the task);
            # up to a bound: an event that kills its process every time is kept instead.
            if self.task.reject_on_worker_lost and not self._already_cancelled and worker_losses.lost(self.id):
                self._keep(f"the worker process running it was lost {worker_losses.max_losses} times "
                           f"(crashed or killed): {exc}; not redelivered")
                self.acknowledge()
        else:
            self._keep(f"unprocessable message: {type(exc).__name__}: {exc}")
        return super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def on_timeout(self, soft, timeout):
        if not soft:
            # The task acknowledges on a timeout (acks_on_timeout): kept here, it is never redelivered.
            self._keep(_hard_limit_reason(timeout))
        return super().on_timeout(soft, timeout)

    def _keep(self, reason: str) -> None:
        """Keep the message as rejected, once per delivery (a hard timeout reaches both handlers)."""
        if not self._kept:
            self._kept = True
            keep_unprocessable(self.app, self._message, reason)


def _hard_limit_reason(timeout_s: Any) -> str:
    return f"processing exceeded the hard time limit of {timeout_s} s (MEDIC_TASK_TIME_LIMIT_S); not redelivered"


def _delivery_id(message: Any, raw: bytes) -> str:
    message_id = (getattr(message, "headers", None) or {}).get("id")
    return str(message_id) if message_id else "raw-" + hashlib.sha256(raw).hexdigest()[:40]
