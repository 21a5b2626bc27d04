"""Unit tests for medic_client.guard (`reporter.guard`: decorator and context manager) and medic_client.reporter."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest

from medic_client import Guard, MedicHandler, Reporter, was_reported
from medic_client.reporter import BROKER_TIMEOUT_S, merged_options
from tests.support.recording_app import RecordingApp


@pytest.fixture
def app():
    return RecordingApp()


@pytest.fixture
def reporter(app):
    return Reporter(app, service="orders-api", source="orders", context={"region": "eu"})


class PushFailed(Exception):
    pass


def push_order(order_id):
    raise PushFailed(f"order {order_id} not pushed")


# --------------------------------------------------------------------------- decorator


def test_the_decorator_reports_and_reraises_with_the_function_as_operation(reporter, app):
    guarded = reporter.guard(push_order)
    with pytest.raises(PushFailed, match="order 7 not pushed") as raised:
        guarded(7)
    [event] = app.sent
    assert event["operation"] == f"{__name__}.push_order"
    assert event["error_type"] == f"{__name__}.PushFailed"
    assert (event["service"], event["source"]) == ("orders-api", "orders")
    assert event["context"] == {"region": "eu"}
    assert was_reported(raised.value)


def test_the_decorator_with_options(reporter, app):
    @reporter.guard(operation="push_order", replay={"kind": "action", "name": "noop"}, context={"shop": 3})
    def push():
        raise PushFailed("down")

    with pytest.raises(PushFailed):
        push()
    [event] = app.sent
    assert event["operation"] == "push_order" and event["replay"] == {"kind": "action", "name": "noop"}
    assert event["context"] == {"region": "eu", "shop": 3}  # the reporter's context, merged


def test_a_method_is_named_by_its_qualified_name(reporter, app):
    class Sync:
        @reporter.guard
        def run(self):
            raise PushFailed("x")

    with pytest.raises(PushFailed):
        Sync().run()
    assert app.sent[0]["operation"].endswith("test_a_method_is_named_by_its_qualified_name.<locals>.Sync.run")


def test_the_decorated_function_keeps_its_name_and_result(reporter, app):
    @reporter.guard()
    def add(a, b):
        """Adds."""
        return a + b

    assert add(2, 3) == 5 and add.__name__ == "add" and add.__doc__ == "Adds."
    assert app.sent == []


def test_reraise_false_swallows_and_the_function_returns_none(reporter, app):
    @reporter.guard(reraise=False)
    def nightly():
        raise PushFailed("swallowed")

    assert nightly() is None
    assert len(app.sent) == 1


def test_generator_functions_are_refused(reporter):
    def numbers():
        yield 1

    with pytest.raises(TypeError, match="cannot cover the iteration of the generator"):
        reporter.guard(numbers)


# --------------------------------------------------------------------------- context manager


def test_the_context_manager_reports_and_reraises(reporter, app):
    with pytest.raises(PushFailed), reporter.guard(operation="nightly-sync"):
        push_order(1)
    assert app.sent[0]["operation"] == "nightly-sync"


def test_the_context_manager_without_operation_takes_the_reporters_default(app):
    reporter = Reporter(app, service="orders-api", operation="batch")
    with pytest.raises(PushFailed), reporter.guard():
        push_order(1)
    assert app.sent[0]["operation"] == "batch"


def test_the_context_manager_with_reraise_false_ends_the_block(reporter, app):
    reached = []
    with reporter.guard(reraise=False):
        push_order(1)
        reached.append("after")  # pragma: no cover
    assert reached == [] and len(app.sent) == 1


def test_a_block_that_succeeds_reports_nothing(reporter, app):
    with reporter.guard():
        pass
    assert app.sent == []


@pytest.mark.parametrize("control", [KeyboardInterrupt(), SystemExit(1), GeneratorExit(), asyncio.CancelledError()])
def test_control_flow_exceptions_pass_through_unreported(reporter, app, control):
    with pytest.raises(type(control)), reporter.guard(reraise=False):
        raise control
    assert app.sent == []


# --------------------------------------------------------------------------- once per exception


def test_nested_guards_report_once_the_innermost(reporter, app):
    @reporter.guard(operation="outer")
    def outer():
        with reporter.guard(operation="middle"):
            inner()

    @reporter.guard(operation="inner")
    def inner():
        raise PushFailed("deep")

    with pytest.raises(PushFailed):
        outer()
    assert [event["operation"] for event in app.sent] == ["inner"]


def test_a_guarded_exception_logged_further_up_is_not_reported_again(reporter, app):
    logger = logging.getLogger(f"app.{uuid.uuid4().hex}")
    logger.addHandler(MedicHandler(reporter))
    try:
        reporter.guard(push_order)(3)
    except PushFailed:
        logger.exception("push failed")
    assert len(app.sent) == 1


def test_an_outer_guard_with_reraise_false_still_swallows_an_inner_report(reporter, app):
    with reporter.guard(reraise=False), reporter.guard(operation="inner"):
        push_order(1)
    assert [event["operation"] for event in app.sent] == ["inner"]


# --------------------------------------------------------------------------- never in the caller's way


def test_the_brokers_trouble_never_replaces_the_apps_exception(caplog):
    app = RecordingApp(failure=ConnectionRefusedError(111, "Connection refused"))
    reporter = Reporter(app, service="orders-api")
    with caplog.at_level(logging.ERROR, logger="medic.capture"):
        with pytest.raises(PushFailed, match="order 5"):
            reporter.guard(push_order)(5)
        assert reporter.guard(push_order, reraise=False)(6) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "medic.capture"]
    assert len(lines) == 2 and all(line.startswith("medic report not sent (ConnectionRefusedError") for line in lines)


def test_a_reporter_that_raises_is_logged_and_the_apps_exception_kept(reporter, monkeypatch, caplog):
    def broken(exc, **options):
        raise RuntimeError("reporter bug token=abcdefghijklmnopqrstu")

    monkeypatch.setattr(reporter, "report", broken)
    with caplog.at_level(logging.ERROR, logger="medic.capture"), pytest.raises(PushFailed) as raised:
        with reporter.guard():
            push_order(9)
    [line] = [r.getMessage() for r in caplog.records if r.name == "medic.capture"]
    assert "RuntimeError: reporter bug" in line and "abcdefghijklmnopqrstu" not in line
    assert was_reported(raised.value)


# --------------------------------------------------------------------------- async


def test_a_coroutine_function_is_guarded(reporter, app):
    @reporter.guard(operation="fetch")
    async def fetch():
        await asyncio.sleep(0)
        raise PushFailed("async down")

    with pytest.raises(PushFailed):
        asyncio.run(fetch())
    assert app.sent[0]["operation"] == "fetch" and app.sent[0]["message"] == "async down"


def test_async_with(reporter, app):
    async def main():
        async with reporter.guard(operation="stream", reraise=False):
            raise PushFailed("stream broke")
        return "went on"

    assert asyncio.run(main()) == "went on"
    assert app.sent[0]["operation"] == "stream"


# --------------------------------------------------------------------------- option mistakes


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"operation": 7}, TypeError, "operation must be a str"),
    ({"replay": "push_order"}, TypeError, "replay must be a dict"),
    ({"retries": 3}, TypeError, "unknown option.*retries"),
    ({"reraise": "no"}, TypeError, "reraise must be True or False"),
    ({"service": ""}, ValueError, "service must be"),
])
def test_guard_option_mistakes_raise_at_construction(reporter, options, error, message):
    with pytest.raises(error, match=message):
        reporter.guard(**options)


def test_guard_decorates_only_callables(reporter):
    with pytest.raises(TypeError, match="guard decorates a function, not int"):
        Guard(reporter)(42)


# --------------------------------------------------------------------------- reporter


def test_report_returns_the_task_id_and_merges_the_options(reporter, app):
    assert reporter.report(PushFailed("x"), context={"order": 1}, idempotency_key="orders:1") == "task-1"
    [event] = app.sent
    assert event["context"] == {"region": "eu", "order": 1} and event["idempotency_key"] == "orders:1"


def test_report_with_the_broker_down_returns_none_and_spools(tmp_path):
    spool = tmp_path / "spool.jsonl"
    reporter = Reporter(RecordingApp(failure=OSError("down")), service="orders-api", spool=spool)
    assert reporter.report(PushFailed("kept")) is None
    assert json.loads(spool.read_text())["message"] == "kept"


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({}, TypeError, "exactly one of app .* or broker_url"),
    ({"app": RecordingApp(), "broker_url": "redis://localhost/0"}, TypeError, "exactly one of"),
    ({"app": object()}, TypeError, "app must be a Celery app"),
    ({"broker_url": "localhost:6379"}, ValueError, "broker_url must be a broker URL"),
    ({"broker_url": "nope://host"}, ValueError, r"broker_url \(nope://...\) cannot be used"),
    ({"broker_url": "redis://:s3cret-pw@host:port/0"}, ValueError, r"broker_url \(redis://...\) cannot be used"),
    ({"broker_url": "redis://localhost/0", "timeout_s": 0}, ValueError, "timeout_s must be a number of seconds"),
    ({"app": RecordingApp(), "idempotency_key": "k"}, TypeError, "unknown option.*idempotency_key"),
    ({"app": RecordingApp(), "context": [1]}, TypeError, "context must be a dict"),
])
def test_reporter_mistakes_raise_a_clear_error(arguments, error, message):
    with pytest.raises(error, match=message) as raised:
        Reporter(service="orders-api", **arguments)
    assert "s3cret-pw" not in str(raised.value)


def test_a_reporter_for_a_broker_url_builds_a_publishing_app_with_short_timeouts():
    reporter = Reporter(broker_url="redis://127.0.0.1:6379/0", service="orders-api")  # builds, does not connect
    conf = reporter.app.conf
    assert conf.broker_connection_timeout == BROKER_TIMEOUT_S and conf.task_serializer == "json"
    assert conf.broker_transport_options == {"socket_connect_timeout": BROKER_TIMEOUT_S,
                                             "socket_timeout": BROKER_TIMEOUT_S}
    reporter.close()


def test_merged_options_merges_only_context():
    assert merged_options({"operation": "a", "context": {"x": 1, "y": 1}},
                          {"operation": "b", "context": {"y": 2}}) == {"operation": "b", "context": {"x": 1, "y": 2}}
