"""Keeping what a worker cannot process, instead of letting Celery drop it.

Celery acknowledges and drops a message whose body cannot be decoded, that names no task or
an unknown one, or whose task fails outside its own error handling (the body of a protocol-2
message is decoded in the pool process, after the consumer has accepted it). medic keeps such
a message as a rejected event: it publishes a `medic.reject` task carrying the masked, capped
payload and the reason, then lets Celery finish with the original.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from billiard.einfo import ExceptionWithTraceback
from celery import Celery
from celery.exceptions import Reject, Retry
from celery.worker.consumer import Consumer
from celery.worker.request import Request

from config.settings import get_settings
from workers.intake import Limits, reject
from workers.masking import mask_text

log = logging.getLogger("medic.consumer")

# Task outcomes that are control flow, not a failure to keep.
_CONTROL = (Retry, Reject)


def keep_unprocessable(app: Celery, message: Any, reason: str) -> None:
    """Publish the message's payload as a rejected event; never raises."""
    try:
        raw = message.body
        text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
        rejected = reject(text, reason, Limits.from_settings(get_settings()))
        delivery_id = _delivery_id(message, text)
        app.send_task("medic.reject", args=[{"rejected": vars(rejected), "delivery_id": delivery_id}])
        log.warning("kept an unprocessable message as rejected", extra={"delivery_id": delivery_id, "reason": reason})
    except Exception:  # bookkeeping of a bad message must not take the worker down
        log.exception("could not keep an unprocessable message", extra={"reason": reason})


class MedicConsumer(Consumer):
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
        for key in ("argsrepr", "kwargsrepr"):
            masked = mask_text(self._request_dict.get(key) or "")
            self._request_dict[key] = masked
            setattr(self, f"_{key}", masked)

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        exc = exc_info.exception
        exc = exc.exc if isinstance(exc, ExceptionWithTraceback) else exc
        if not isinstance(exc, (*_CONTROL, SystemExit, KeyboardInterrupt, MemoryError)) and not self._already_revoked:
            keep_unprocessable(self.app, self._message, f"unprocessable message: {type(exc).__name__}: {exc}")
        return super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def on_timeout(self, soft, timeout):
        if not soft:
            keep_unprocessable(self.app, self._message, f"processing exceeded the hard time limit of {timeout}s")
        return super().on_timeout(soft, timeout)


def _delivery_id(message: Any, text: str) -> str:
    message_id = (getattr(message, "headers", None) or {}).get("id")
    return str(message_id) if message_id else "raw-" + hashlib.sha256(text.encode()).hexdigest()[:40]
