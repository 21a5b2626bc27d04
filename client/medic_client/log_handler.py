"""`MedicHandler`: a logging handler that reports the exceptions an app logs (`logger.exception(...)`).

    logging.getLogger().addHandler(MedicHandler(Reporter(broker_url=..., service="orders-api")))

A record carrying an exception (``exc_info``) at the handler's level (default ERROR) or above is
reported with its cause chain; the record's logger name and message go into the event's
``context`` (``logger``, ``log_message``) and its time becomes ``occurred_at``. Records without an
exception are ignored unless ``report_messages=True``: then each is reported as a `LoggedError`
carrying the log message. An exception object already reported (by a guard, or logged twice) is
reported once.

Per record, these ``extra`` keys are read (``logger.exception("...", extra={...})``):
  medic_operation (str), medic_service (str, overrides the reporter's), medic_context (dict, merged
  into the context), medic_replay and medic_fallback (target dicts), medic_idempotency_key (str).
An extra of the wrong type is left out, and said so on the ``medic.capture`` logger.

The handler never raises into the logging call. The broker's trouble is the reporter's (logged,
masked, and spooled); a mistake anywhere else goes to `logging.Handler.handleError`, as for any
handler. It never reports records of ``medic.capture`` (its own "not sent" lines), nor anything
logged while it is reporting on the same thread (kombu's, or its own through the same root logger):
no recursion. It does not hold the handler lock while publishing, so threads do not queue behind one
another; each logging call waits for its own publish: milliseconds normally, about the reporter's
``timeout_s`` (2 s by default; at worst twice that + 0.2 s) while the broker is unreachable.
Wrap it in `logging.handlers.QueueHandler`/`QueueListener` to take even that off the calling thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from medic_client.reporter import Reporter, was_reported

CAPTURE_LOGGER = "medic.capture"
# record attribute (the `extra` key) -> (report option, the type it must have)
EXTRAS: dict[str, tuple[str, type]] = {
    "medic_operation": ("operation", str),
    "medic_service": ("service", str),
    "medic_context": ("context", Mapping),
    "medic_replay": ("replay", Mapping),
    "medic_fallback": ("fallback", Mapping),
    "medic_idempotency_key": ("idempotency_key", str),
}
log = logging.getLogger(CAPTURE_LOGGER)
_reporting = threading.local()  # .active: this thread is inside a MedicHandler's emit


class LoggedError(Exception):
    """What a record logged without an exception is reported as (``report_messages=True``)."""


def exception_of(record: logging.LogRecord) -> BaseException | None:
    """The exception a record carries (``exc_info``), None when it carries none."""
    info = record.exc_info
    if isinstance(info, tuple) and len(info) == 3 and isinstance(info[1], BaseException):
        return info[1]
    return None


def message_of(record: logging.LogRecord) -> str:
    """The record's formatted message; a message whose arguments do not fit is given unformatted."""
    try:
        return record.getMessage()
    except Exception:
        try:
            return str(record.msg)
        except Exception:
            return "<unprintable log message>"


def is_own(record: logging.LogRecord) -> bool:
    return record.name == CAPTURE_LOGGER or record.name.startswith(CAPTURE_LOGGER + ".")


def options_from_record(record: logging.LogRecord) -> tuple[dict[str, Any], list[str]]:
    """The report options a record asks for, and the extras left out for their type (as messages)."""
    options: dict[str, Any] = {}
    problems: list[str] = []
    for attribute, (option, expected) in EXTRAS.items():
        value = getattr(record, attribute, None)
        if value is None:
            continue
        if isinstance(value, expected):
            options[option] = value
        else:
            problems.append(f"{attribute} must be a {'dict' if expected is Mapping else expected.__name__}, "
                            f"not {type(value).__name__}")
    options["context"] = {"logger": record.name, "log_message": message_of(record), **options.get("context", {})}
    options["occurred_at"] = datetime.fromtimestamp(record.created, UTC)
    return options, problems


class MedicHandler(logging.Handler):
    """Report logged exceptions to medic through a `Reporter` (see the module docstring)."""

    def __init__(self, reporter: Reporter, level: int | str = logging.ERROR, *, report_messages: bool = False) -> None:
        if not isinstance(reporter, Reporter):
            raise TypeError(f"reporter must be a medic_client Reporter, not {type(reporter).__name__}")
        if not isinstance(report_messages, bool):
            raise TypeError(f"report_messages must be True or False, not {type(report_messages).__name__}")
        super().__init__(level)
        self.reporter = reporter
        self.report_messages = report_messages

    def handle(self, record: logging.LogRecord) -> Any:
        # As logging.Handler.handle, without the handler lock: the reporter is thread-safe, and one
        # thread waiting for an unreachable broker must not make every other thread's logging wait too.
        accepted = self.filter(record)
        if isinstance(accepted, logging.LogRecord):  # Python 3.12+: a filter may return a replacement
            record = accepted
        if accepted:
            self.emit(record)
        return accepted

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_reporting, "active", False) or is_own(record):
            return
        _reporting.active = True
        try:
            self._report(record)
        except Exception:
            self.handleError(record)
        finally:
            _reporting.active = False

    def _report(self, record: logging.LogRecord) -> None:
        exc = exception_of(record)
        if exc is None:
            if not self.report_messages:
                return
            exc = LoggedError(message_of(record))
        elif was_reported(exc):
            return
        options, problems = options_from_record(record)
        for problem in problems:
            log.error("medic log handler: the record's extra %s; reported without it", problem)
        self.reporter.report(exc, **options)
