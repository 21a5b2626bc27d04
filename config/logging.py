"""Structured logging: one event per line, JSON by default, ids as fields."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

Redact = Callable[[str], str]

# Attributes every LogRecord has; anything else on a record is an `extra` field to emit.
# uvicorn's color_message repeats the message with terminal escapes.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD_ATTRS)
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} {extras}" if extras else line
        return f"{line}\n{self.formatException(record.exc_info)}" if record.exc_info else line


class RedactingFormatter(logging.Formatter):
    """Passes every finished line through `redact`: a last guard for secrets in any logger's output
    (Celery's debug lines, for one, print whole message bodies)."""

    def __init__(self, inner: logging.Formatter, redact: Redact):
        super().__init__()
        self.inner, self.redact = inner, redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))


def configure_logging(level: str = "INFO", fmt: str = "json", redact: Redact | None = None,
                      log_file: Path | None = None) -> None:
    """Route every logger (medic's and Celery's) to stderr in the chosen format, and to `log_file` if given.

    The file handler reopens the file when its name no longer points at the file it has open, so log
    rotation can rename it (docs/maintenance/log-rotation.md); every process reopens on its next record.
    """
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    formatter = RedactingFormatter(formatter, redact) if redact else formatter
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    problem = None
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.handlers.WatchedFileHandler(log_file, encoding="utf-8"))
        except OSError as exc:
            problem = f"{log_file}: {exc.strerror or exc}"
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level)
    if problem:
        logging.getLogger("medic").error("cannot write MEDIC_LOG_FILE; logging to stderr only",
                                         extra={"problem": problem})
