"""Unit tests for medic_client.log_handler: MedicHandler reports logged exceptions through a Reporter."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import UTC, datetime

import pytest

from medic_client import MedicHandler, Reporter, was_reported
from medic_client.log_handler import LoggedError, options_from_record
from tests.support.recording_app import RecordingApp
from workers.intake.contract import ErrorEvent


@pytest.fixture
def app():
    return RecordingApp()


@pytest.fixture
def logger():
    """A logger of the test's own, MedicHandler added by each test."""
    named = logging.getLogger(f"app.{uuid.uuid4().hex}")
    named.setLevel(logging.DEBUG)
    yield named
    for handler in list(named.handlers):
        named.removeHandler(handler)


def attach(logger, app, **options) -> MedicHandler:
    handler = MedicHandler(Reporter(app, service="orders-api", source="orders"), **options)
    logger.addHandler(handler)
    return handler


def failure():
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as exc:
            raise RuntimeError("push failed") from exc
    except RuntimeError as exc:
        return exc


def test_records_without_an_exception_are_ignored(app, logger):
    attach(logger, app)
    logger.error("disk at 91%")
    logger.critical("still no exception")
    logger.error("exc_info=True outside an except block", exc_info=True)
    assert app.sent == []


def test_records_below_the_handler_level_are_ignored(app, logger):
    attach(logger, app)
    try:
        raise ValueError("only a warning")
    except ValueError:
        logger.warning("handled", exc_info=True)
    assert app.sent == []


def test_an_exception_record_is_reported_with_its_cause_chain_and_the_record_details(app, logger):
    attach(logger, app)
    exc = failure()
    before = datetime.now(UTC)
    try:
        raise exc
    except RuntimeError:
        logger.exception("pushing order %s failed", 981,
                         extra={"medic_operation": "push_order", "medic_context": {"order_id": 981},
                                "medic_replay": {"kind": "action", "name": "noop"},
                                "medic_idempotency_key": "orders-api:981"})
    [event] = app.sent
    ErrorEvent.model_validate(json.loads(json.dumps(event)))
    assert event["error_type"] == "RuntimeError" and event["message"] == "push failed"
    assert event["causes"] == [{"error_type": "ConnectionRefusedError", "message": "[Errno 111] Connection refused"}]
    assert event["errno"] == "ECONNREFUSED"
    assert (event["service"], event["source"], event["operation"]) == ("orders-api", "orders", "push_order")
    assert event["context"] == {"logger": logger.name, "log_message": "pushing order 981 failed", "order_id": 981}
    assert event["replay"] == {"kind": "action", "name": "noop"}
    assert event["idempotency_key"] == "orders-api:981"
    assert before <= datetime.fromisoformat(event["occurred_at"]) <= datetime.now(UTC)
    assert was_reported(exc)


def test_the_service_extra_overrides_the_reporters(app, logger):
    attach(logger, app)
    try:
        raise TimeoutError("smtp timed out")
    except TimeoutError:
        logger.exception("mail not sent", extra={"medic_service": "smtp"})
    assert app.sent[0]["service"] == "smtp"


def test_an_extra_of_the_wrong_type_is_left_out_and_said_so(app, logger, caplog):
    attach(logger, app)
    with caplog.at_level(logging.ERROR, logger="medic.capture"):
        try:
            raise KeyError("sku")
        except KeyError:
            logger.exception("lookup failed", extra={"medic_context": "order 7", "medic_operation": "lookup"})
    [event] = app.sent
    assert event["operation"] == "lookup" and event["context"]["log_message"] == "lookup failed"
    [said] = [r.getMessage() for r in caplog.records if r.name == "medic.capture"]
    assert "medic_context must be a dict, not str" in said


def test_a_record_whose_arguments_do_not_fit_its_message_is_still_reported(app, logger):
    handler = attach(logger, app)
    try:
        raise ValueError("bad")
    except ValueError as exc:
        record = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "two %s %s", ("args expected",),
                                   (type(exc), exc, exc.__traceback__))
    handler.handle(record)  # directly: pytest's own capture handlers raise on such a record
    assert app.sent[0]["context"]["log_message"] == "two %s %s"


def test_report_messages_reports_a_record_without_an_exception_as_a_logged_error(app, logger):
    attach(logger, app, report_messages=True)
    logger.error("quota at %d%%", 97)
    [event] = app.sent
    assert event["error_type"] == "medic_client.log_handler.LoggedError"
    assert event["message"] == "quota at 97%"
    assert issubclass(LoggedError, Exception)


def test_an_exception_logged_twice_is_reported_once(app, logger):
    attach(logger, app)
    exc = failure()
    for _ in range(2):
        try:
            raise exc
        except RuntimeError:
            logger.exception("push failed")
    assert len(app.sent) == 1


def test_records_of_medic_capture_are_never_reported(app):
    root = logging.getLogger()
    handler = MedicHandler(Reporter(app, service="orders-api"))
    root.addHandler(handler)
    try:
        try:
            raise OSError("spool disk full")
        except OSError:
            logging.getLogger("medic.capture").exception("medic report spool cannot be written")
    finally:
        root.removeHandler(handler)
    assert app.sent == []


def test_logging_done_while_reporting_is_not_reported_again(logger):
    """kombu (or medic.capture) logging an exception during the publish, through the same handler: no recursion."""
    def publish_that_logs(event):
        try:
            raise ConnectionResetError("broker reset the connection")
        except ConnectionResetError:
            logger.exception("kombu: connection lost while publishing")

    app = RecordingApp(on_send=publish_that_logs)
    attach(logger, app)
    try:
        raise ValueError("the app's error")
    except ValueError:
        logger.exception("failed")
    assert [event["error_type"] for event in app.sent] == ["ValueError"]


def test_a_broker_that_fails_never_reaches_the_logging_call_and_prints_no_traceback(logger, caplog, capsys):
    def refuse(event):
        raise ConnectionRefusedError(111, "Connection refused")

    app = RecordingApp(on_send=refuse)
    attach(logger, app)
    with caplog.at_level(logging.ERROR, logger="medic.capture"):
        try:
            raise ValueError("password=hunter2-is-secret")
        except ValueError:
            logger.exception("failed")
    assert app.sent == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "medic.capture"]
    assert line.startswith("medic report not sent (ConnectionRefusedError") and "hunter2" not in line
    assert "Logging error" not in capsys.readouterr().err


def test_a_reporter_that_raises_is_the_handlers_error_not_the_callers(app, logger, capsys, monkeypatch):
    def broken(exc, **options):
        raise RuntimeError("reporter bug")

    handler = attach(logger, app)
    monkeypatch.setattr(handler.reporter, "report", broken)
    try:
        raise ValueError("the app's error")
    except ValueError:
        logger.exception("failed")  # does not raise
    assert "--- Logging error ---" in capsys.readouterr().err  # logging.Handler.handleError, as any handler
    monkeypatch.setattr(logging, "raiseExceptions", False)
    try:
        raise ValueError("again")
    except ValueError:
        logger.exception("failed")
    assert capsys.readouterr().err == ""


def test_threads_report_side_by_side_not_one_behind_the_other(logger):
    """The handler lock is not held while publishing: two publishes meet at a barrier (serialised, they never would)."""
    meeting = threading.Barrier(2, timeout=5)
    app = RecordingApp(on_send=lambda event: meeting.wait())
    attach(logger, app)

    def log_one(n):
        try:
            raise ValueError(f"thread {n}")
        except ValueError:
            logger.exception("failed")

    threads = [threading.Thread(target=log_one, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(event["message"] for event in app.sent) == ["thread 0", "thread 1"]


def test_options_from_record_reads_only_the_documented_extras():
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, "msg %s", ("x",), None)
    record.medic_operation = "op"
    record.medic_fallback = {"kind": "action", "name": "log"}
    record.medic_unknown = "ignored"
    options, problems = options_from_record(record)
    assert problems == []
    assert set(options) == {"operation", "fallback", "context", "occurred_at"}
    assert options["context"] == {"logger": "app", "log_message": "msg x"}


@pytest.mark.parametrize(("arguments", "message"), [
    ({"reporter": object()}, "reporter must be a medic_client Reporter"),
    ({"report_messages": "yes"}, "report_messages must be True or False"),
])
def test_handler_mistakes_raise_a_clear_error(app, arguments, message):
    arguments = {"reporter": Reporter(app, service="orders-api"), **arguments}
    with pytest.raises(TypeError, match=message):
        MedicHandler(**arguments)
