"""report_exception with the broker down: it never raises into the app's error handler, returns
within a bounded time, logs the event (masked) as JSON at ERROR and, when asked, spools it."""

from __future__ import annotations

import json
import logging
import os
import stat
import time

import pytest
from celery import Celery

from medic_client import report_exception

pytestmark = pytest.mark.integration

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def app_on(broker_url: str) -> Celery:
    app = Celery("some-app", broker=broker_url)
    app.conf.update(task_serializer="json", broker_connection_retry_on_startup=False)
    return app


def failing_call():
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as exc:
        return exc


def test_a_down_broker_never_raises_into_the_caller(tmp_path, caplog):
    spool = tmp_path / "medic-spool.jsonl"
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="medic.capture"):
        task_id = report_exception(app_on(NOWHERE), failing_call(), service="partner-api", spool=spool,
                                   context={"api_key": "sk_live_abcdefghijklmnop1234", "order": 7})
    elapsed_s = time.monotonic() - started
    assert task_id is None and elapsed_s < 5
    [record] = [r for r in caplog.records if r.name == "medic.capture"]
    assert record.levelno == logging.ERROR and "sk_live_abcdefghijklmnop1234" not in record.getMessage()
    logged = json.loads(record.getMessage().split("the event: ", 1)[1])
    assert logged["service"] == "partner-api" and logged["context"]["order"] == 7
    [line] = spool.read_text().splitlines()
    kept = json.loads(line)
    assert kept["error_type"] == "ConnectionRefusedError" and "sk_live_" not in line
    assert stat.S_IMODE(os.stat(spool).st_mode) == 0o600


def test_a_spool_that_cannot_be_written_is_logged_not_raised(tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="medic.capture"):
        assert report_exception(app_on(NOWHERE), failing_call(), service="partner-api",
                                spool=tmp_path / "missing-dir" / "spool.jsonl") is None
    assert any("spool" in r.getMessage() for r in caplog.records)
