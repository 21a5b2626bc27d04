"""Structured logs: one JSON object a line, extras as fields, secrets masked in every line."""

from __future__ import annotations

import json
import logging

from config.logging import JsonFormatter, RedactingFormatter, TextFormatter
from workers.masking import mask_text


def record(message: str, **extra) -> logging.LogRecord:
    entry = logging.makeLogRecord({"name": "medic.test", "levelno": logging.INFO, "levelname": "INFO", "msg": message})
    entry.__dict__.update(extra)
    return entry


def test_json_lines_carry_the_event_and_the_ids():
    line = JsonFormatter().format(record("event stored", delivery_id="d-1", group_id=7))
    data = json.loads(line)
    assert data["event"] == "event stored" and data["delivery_id"] == "d-1" and data["group_id"] == 7
    assert data["level"] == "info" and data["logger"] == "medic.test" and data["ts"].endswith("+00:00")
    assert "\n" not in line


def test_text_lines_show_extras():
    assert TextFormatter().format(record("event stored", group_id=7)).endswith("event stored group_id=7")


def test_every_line_is_masked_whatever_logger_wrote_it():
    formatter = RedactingFormatter(JsonFormatter(), mask_text)
    line = formatter.format(record("apply body {'password': 'hunter2'}", dsn="postgresql://u:pw@db/x"))
    assert "hunter2" not in line and "u:pw@" not in line
    json.loads(line)
