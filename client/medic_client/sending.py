"""Sending an event to medic over the app's Celery broker: `report_exception`, `send_event`.

Trouble with the broker never reaches the caller: the publish is tried twice, 0.2 s apart (on top of
the app's connection timeout, `broker_connection_timeout`), then the event is logged as JSON at ERROR
on the ``medic.capture`` logger and, when ``spool`` names a file, appended to it as one JSON line
(`medic report --spool FILE` sends them later). Both copies are masked, as medic masks at intake.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from medic_client import replays
from medic_client.events import QUEUE, TASK_NAME, event_from_exception
from medic_client.masking import mask_text, mask_value
from medic_client.reprs import args_repr

# Celery's default tries 4 times (0.6 s against a broker that refuses); an app's error handler waits less.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "interval_max": 0.2}
# Longest reason (the broker's error) written in the "not sent" log line.
REASON_MAX_CHARS = 300
log = logging.getLogger("medic.capture")

Spool = str | os.PathLike[str] | None


def report_exception(app: Any, exc: BaseException, *, spool: Spool = None, **options: Any) -> str | None:
    """Send exc to medic as a ``medic.report`` task on queue ``medic.errors``; return the task id (None: not sent).

    ``app`` is any Celery app configured with the broker medic listens on; ``options`` are the
    keyword-only options of `event_from_exception` (``service`` is required). The event is built
    first, so option mistakes raise TypeError/ValueError before anything is sent: they are the
    caller's, found in development. Inside a task medic is replaying, the event says so
    (``medic_execution_id``): medic records it but starts no second recovery for it.
    """
    return send_event(app, event_from_exception(exc, **options), spool=spool)


def send_event(app: Any, event: dict[str, Any], *, spool: Spool = None) -> str | None:
    """Publish a built event (see `report_exception`); never raises. Returns the task id, None when not sent."""
    try:
        execution_id = replays.current_execution_id()
        if execution_id is not None:
            event = {**event, replays.EVENT_FIELD: execution_id}
        # The app's own task-sent event (and Flower) shows this summary, not the raw event.
        result = app.send_task(TASK_NAME, args=[event], queue=QUEUE, argsrepr=args_repr(TASK_NAME, [event]),
                               kwargsrepr="{}", retry=True, retry_policy=PUBLISH_RETRY_POLICY)
    except Exception as error:  # the broker, the network, the serializer: none of it is the caller's
        keep_locally(event, error, spool)
        return None
    return result.id


def keep_locally(event: dict[str, Any], error: BaseException, spool: Spool) -> None:
    """Log an event that could not be sent (masked) and append it to the spool file, if any. Never raises."""
    try:
        line = json.dumps(mask_value(event), ensure_ascii=False, sort_keys=True, default=str)
        reason = mask_text(f"{type(error).__name__}: {_text(error)}")[:REASON_MAX_CHARS]
        log.error("medic report not sent (%s); the event: %s", reason, line)
    except Exception:  # a logging handler of the app that raises is not the caller's problem either
        return
    if spool is None:
        return
    try:
        descriptor = os.open(os.fspath(spool), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")  # one write of one line: appends of several processes do not interleave
    except OSError as spool_error:
        log.error("medic report spool %s cannot be written: %s", os.fspath(spool), spool_error)


def _text(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return "<unprintable>"
