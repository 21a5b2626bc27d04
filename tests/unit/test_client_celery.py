"""Unit tests of medic_client.celery: the pure decisions (target, options, JSON-ability, errback swap) and the
never-raise guarantee. Tasks run in-process with `task.apply()` (Celery's own tracer: the same signals and
errback calls as in a worker); what the client sends is recorded by a reporter app that sends nothing."""

from __future__ import annotations

import json
import logging
import math
from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery
from celery.app.task import Context

import medic_client.celery as medic_celery
from medic_client import Reporter, celery_options, celery_replays, celery_targets
from medic_client.celery_options import OptionError, TaskOptions
from tests.support.recording_app import RecordingApp, shop_app
from workers.intake.contract import ErrorEvent

SERVICE = "partner-api"


@pytest.fixture
def app():
    yield from shop_app()


def validated(event: dict) -> ErrorEvent:
    return ErrorEvent.model_validate(json.loads(json.dumps(event)))


# --------------------------------------------------------------------------- targets (pure)

@pytest.mark.parametrize("value, plain", [
    ([1, "a", None, True, 2.5, {"k": [1, {"x": "y"}]}], True),
    ((1, 2), True),
    ({1: "int key"}, False),
    ([math.nan], False),
    ([float("inf")], False),
    ([b"bytes"], False),
    ([object()], False),
    ({"when": __import__("datetime").date(2026, 1, 1)}, False),
])
def test_plain_json(value, plain):
    assert celery_targets.is_plain_json(value) is plain


def test_deeply_nested_value_is_not_plain_json():
    value: Any = "leaf"
    for _ in range(celery_targets.JSON_DEPTH_MAX + 5):
        value = [value]
    assert celery_targets.is_plain_json(value) is False


def test_replay_target_is_the_task_with_its_arguments_and_queue():
    target, why = celery_targets.replay_target("shop.charge", ("order-1", 3), {"currency": "EUR"}, "shop")
    assert why is None
    assert target == {"kind": "celery", "task": "shop.charge", "args": ["order-1", 3], "kwargs": {"currency": "EUR"},
                      "queue": "shop"}


def test_replay_target_without_queue_and_none_arguments():
    target, _ = celery_targets.replay_target("shop.charge", None, None, None)
    assert target == {"kind": "celery", "task": "shop.charge", "args": [], "kwargs": {}}


@pytest.mark.parametrize("args, kwargs, says", [
    ([object()], {}, "args"),
    ([], {"when": object()}, "kwargs"),
    ([], {1: 2}, "kwargs"),
    ("not a list", {}, "args"),
])
def test_arguments_that_are_not_json_leave_no_target_and_say_why(args, kwargs, says):
    target, why = celery_targets.replay_target("shop.charge", args, kwargs, "shop")
    assert target is None and why is not None and says in why


@pytest.mark.parametrize("delivery_info, task_queue, default, queue", [
    ({"routing_key": "priority"}, "shop", "celery", "priority"),
    ({"routing_key": ""}, "shop", "celery", "shop"),
    (None, None, "celery", "celery"),
    ({}, None, None, None),
])
def test_queue_is_where_the_task_came_from(delivery_info, task_queue, default, queue):
    assert celery_targets.queue_of(delivery_info, task_queue, default) == queue


def test_idempotency_key_source_and_context():
    assert celery_targets.idempotency_key("abc") == "celery-task-abc"
    assert celery_targets.idempotency_key(None) is None
    assert len(celery_targets.idempotency_key("x" * 400) or "") == 256
    assert celery_targets.source_of("shop") == "shop"
    assert celery_targets.source_of("__main__") is None and celery_targets.source_of(None) is None
    assert celery_targets.task_context("t1", 2, "w@h") == {"task_id": "t1", "retries": 2, "hostname": "w@h"}
    assert celery_targets.task_context("t1", None, None, "why") == {"task_id": "t1", "replay_left_out": "why"}


# --------------------------------------------------------------------------- per-task options (pure)

def test_option_values():
    assert celery_options.parse(None) == celery_options.DEFAULT == celery_options.parse(True)
    assert celery_options.parse(False).report is False
    chosen = celery_options.parse({"service": " cards ", "plan_hint": "bad-request", "replay": False,
                                   "fallback": {"kind": "celery", "task": "shop.tell"}})
    assert chosen == TaskOptions(service="cards", plan_hint="bad-request", replay=False,
                                 fallback={"kind": "celery", "task": "shop.tell"})


@pytest.mark.parametrize("value, says", [
    ("yes", "must be False, True or a dict"),
    ({"servce": "x"}, "unknown keys ['servce']"),
    ({"service": ""}, "service must be 1..256"),
    ({"service": 3}, "service must be a str"),
    ({"replay": "no"}, "replay must be True or False"),
    ({"fallback": {"task": "x"}}, "fallback needs kind"),
    ({"fallback": "shop.tell"}, "fallback must be a dict"),
])
def test_bad_option_values_say_what_is_wrong(value, says):
    with pytest.raises(OptionError, match=r".*") as caught:
        celery_options.parse(value, where="task shop.x: medic option")
    assert says in str(caught.value) and "task shop.x" in str(caught.value)


def test_task_options_from_the_task_option_and_from_the_decorators(app):
    @app.task(shared=False, name="shop.out", medic=False)
    def opted_out():
        return None

    @app.task(shared=False, name="shop.cards", medic={"service": "cards"})
    def with_option():
        return None

    @app.task(shared=False, name="shop.decorated", bind=True)
    @medic_celery.options(service="warehouse", plan_hint="slow-partner")
    def decorated(self):
        return None

    @app.task(shared=False, name="shop.ignored")
    @medic_celery.ignore
    def ignored():
        return None

    @app.task(shared=False, name="shop.plain")
    def plain():
        return None

    assert celery_options.of_task(app.tasks["shop.out"]).report is False
    assert celery_options.of_task(app.tasks["shop.cards"]).service == "cards"
    assert celery_options.of_task(app.tasks["shop.decorated"]) == TaskOptions(service="warehouse",
                                                                              plan_hint="slow-partner")
    assert celery_options.of_task(app.tasks["shop.ignored"]).report is False
    assert celery_options.of_task(app.tasks["shop.plain"]) == celery_options.DEFAULT


def test_decorator_mistakes_raise_at_import_time():
    with pytest.raises(OptionError, match="fallback needs kind"):
        medic_celery.options(fallback={"task": "x"})


# --------------------------------------------------------------------------- install's own checks

@pytest.mark.parametrize("kwargs, error, says", [
    ({}, TypeError, "service"),
    ({"service": None}, TypeError, "service="),
    ({"service": "  "}, ValueError, "service must be 1..256"),
    ({"service": 7}, TypeError, "service must be a str"),
    ({"service": "x", "reporter": RecordingApp(), "broker_url": "redis://h/0"}, TypeError, "not both"),
    ({"service": "x", "broker_url": ""}, ValueError, "broker_url"),
    ({"service": "x", "fallback": {"kind": "carrier-pigeon"}}, ValueError, "fallback needs kind"),
    ({"service": "x", "include_traceback": "yes"}, TypeError, "include_traceback"),
])
def test_install_refuses_bad_options(app, kwargs, error, says):
    with pytest.raises(error, match=says):
        medic_celery.install(app, **kwargs)


def test_install_refuses_what_is_not_a_celery_app():
    with pytest.raises(TypeError, match="Celery app"):
        medic_celery.install(object(), service="x")


def test_separate_reporter_gives_up_on_its_broker_within_seconds():
    reporter = medic_celery.broker_app("redis://127.0.0.1:1/0")
    try:
        assert reporter.conf.broker_connection_timeout <= 2
        assert reporter.conf.broker_transport_options["socket_connect_timeout"] <= 2
    finally:
        reporter.close()


# --------------------------------------------------------------------------- a task that fails for good

def failing_tasks(app):
    @app.task(shared=False, name="shop.charge")
    def charge(order, amount=0):
        raise ConnectionError("gateway unreachable") from TimeoutError("read timed out")

    @app.task(shared=False, name="shop.card", medic={"service": "cards", "plan_hint": "bad-request", "replay": False,
                                       "fallback": {"kind": "celery", "task": "shop.tell", "args": ["c"]}})
    def card(order):
        raise ValueError("invalid card")

    @app.task(shared=False, name="shop.out", medic=False)
    def out():
        raise RuntimeError("not medic's")

    @app.task(shared=False, name="shop.odd")
    def odd(thing):
        raise RuntimeError("odd")

    @app.task(shared=False, name="shop.bad_option", medic={"sevrice": "typo"})
    def bad_option():
        raise RuntimeError("typo")

    return SimpleNamespace(charge=charge, card=card, out=out, odd=odd, bad_option=bad_option)


def test_failed_task_is_reported_with_itself_as_the_replay_target(app):
    recorder = RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=recorder, plan_hint="slow-partner")
    tasks = failing_tasks(app)

    tasks.charge.apply(args=["order-1"], kwargs={"amount": 5}, task_id="t-1")

    [sent] = recorder.calls
    assert sent["name"] == "medic.report" and sent["queue"] == "medic.errors"
    [event] = sent["args"]
    validated(event)
    assert event["service"] == SERVICE and event["operation"] == "shop.charge" and event["source"] == "shop"
    assert event["error_type"] == "ConnectionError" and event["causes"][0]["error_type"] == "TimeoutError"
    assert event["idempotency_key"] == "celery-task-t-1"
    assert event["replay"] == {"kind": "celery", "task": "shop.charge", "args": ["order-1"], "kwargs": {"amount": 5},
                               "queue": "shop"}
    assert event["plan_hint"] == "slow-partner"
    assert event["context"]["task_id"] == "t-1" and event["context"]["retries"] == 0
    assert "traceback" in event


def test_per_task_options_override_and_opt_out(app):
    recorder = RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=recorder, include_traceback=False)
    tasks = failing_tasks(app)

    tasks.out.apply()
    assert recorder.calls == []

    tasks.card.apply(args=["order-2"])
    [event] = recorder.calls[0]["args"]
    validated(event)
    assert event["service"] == "cards" and event["plan_hint"] == "bad-request"
    assert "replay" not in event and event["fallback"] == {"kind": "celery", "task": "shop.tell", "args": ["c"]}
    assert "traceback" not in event


def test_arguments_that_are_not_json_are_reported_without_a_replay_target(app):
    recorder = RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=recorder)
    tasks = failing_tasks(app)

    tasks.odd.apply(args=[{1, 2}])

    [event] = recorder.calls[0]["args"]
    validated(event)
    assert "replay" not in event and "not plain JSON" in event["context"]["replay_left_out"]


def test_a_bad_medic_option_is_logged_and_the_task_reported_with_defaults(app, caplog):
    recorder = RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=recorder)
    tasks = failing_tasks(app)

    with caplog.at_level(logging.ERROR, logger="medic.capture"):
        tasks.bad_option.apply()

    assert recorder.calls[0]["args"][0]["service"] == SERVICE
    assert any("unknown keys ['sevrice']" in r.getMessage() for r in caplog.records)


def test_tasks_of_another_app_are_not_reported(app):
    recorder = RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=recorder)
    other = Celery("other", set_as_current=False)

    @other.task(shared=False, name="other.fails")
    def fails():
        raise RuntimeError("other app")

    fails.apply()
    other.close()
    assert recorder.calls == []


def test_a_second_install_replaces_the_first(app):
    first, second = RecordingApp(), RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=first)
    medic_celery.install(app, service="other", reporter=second)
    failing_tasks(app).charge.apply(args=["o"])
    assert first.calls == [] and [s["args"][0]["service"] for s in second.calls] == ["other"]


# --------------------------------------------------------------------------- never raises

def test_a_reporter_that_raises_never_reaches_the_task_or_the_worker(app, caplog):
    medic_celery.install(app, service=SERVICE, reporter=RecordingApp(OSError("broker down, password=hunter2")))
    tasks = failing_tasks(app)

    with caplog.at_level(logging.ERROR, logger="medic.capture"):
        result = tasks.charge.apply(args=["order-1"])

    assert isinstance(result.result, ConnectionError)  # the task's own failure, nothing of the client's
    [line] = [r.getMessage() for r in caplog.records if r.name == "medic.capture"]
    assert "medic report not sent" in line and "hunter2" not in line


def test_hooks_given_nonsense_log_and_return(app, caplog):
    installation = medic_celery.install(app, service=SERVICE, reporter=RecordingApp())
    broken = SimpleNamespace(app=app, name="shop.x")  # no request at all
    with caplog.at_level(logging.ERROR, logger="medic.capture"):
        installation.on_task_prerun(sender=broken, task=broken)
        installation.on_task_failure(sender=broken, exception=RuntimeError("x"))
        installation.on_replay_failed(object(), "not an exception", None, None)
        installation.on_task_failure(sender=None)
    assert sum("failed" in r.getMessage() for r in caplog.records if r.name == "medic.capture") == 3


def test_trouble_text_is_masked(caplog):
    with caplog.at_level(logging.ERROR, logger="medic.capture"):
        medic_celery._log_trouble("somewhere", RuntimeError("redis://user:s3cretpassw0rd@host/0"))
    [record] = caplog.records
    assert "s3cretpassw0rd" not in record.getMessage()


# --------------------------------------------------------------------------- replays

def medic_errback(attempt_id: int = 7) -> dict:
    return {"task": celery_replays.MEDIC_REPLAY_FAILED_TASK, "args": [],
            "kwargs": {"attempt_id": attempt_id, "signature": "sig"}, "options": {"queue": "medic.recovery"},
            "subtask_type": None, "immutable": False}


def test_swap_errbacks_replaces_only_medics():
    other = {"task": "app.on_error", "args": [], "kwargs": {}, "options": {}}
    swapped = celery_replays.swap_errbacks([other, medic_errback()], 42)
    assert swapped is not None and swapped[0] is other
    assert swapped[1]["task"] == celery_replays.CLIENT_REPLAY_FAILED_TASK
    assert swapped[1]["kwargs"][celery_replays.EXECUTION_KWARG] == 42
    assert swapped[1]["kwargs"][celery_replays.ORIGINAL_KWARG]["kwargs"] == {"attempt_id": 7, "signature": "sig"}
    json.dumps(swapped)  # a Celery retry carries it in a JSON message
    assert celery_replays.swap_errbacks([other], 42) is None
    assert celery_replays.swap_errbacks(None, 42) is None
    assert celery_replays.swap_errbacks(swapped, 42) is None  # a retried replay: swapped already


def test_is_medic_replay():
    assert celery_replays.is_medic_replay(Context({"headers": {"medic_execution_id": 3}}))
    assert celery_replays.is_medic_replay(Context({"errbacks": [medic_errback()]}))
    assert celery_replays.is_medic_replay(Context({"errbacks": celery_replays.swap_errbacks([medic_errback()], 1)}))
    assert not celery_replays.is_medic_replay(Context({"errbacks": [{"task": "app.on_error"}]}))
    assert not celery_replays.is_medic_replay(Context({}))


def test_outcome_message_keeps_medics_kwargs_and_adds_the_error():
    message = celery_replays.outcome_message(celery_replays.plain_signature(medic_errback()), "medic-1-7", {"e": 1})
    assert message == {"name": "medic.recovery.replay_failed", "args": ["medic-1-7"],
                       "kwargs": {"attempt_id": 7, "signature": "sig", "error": {"e": 1}}, "queue": "medic.recovery"}


def test_failed_replay_reports_its_exception_as_the_attempts_outcome_not_as_a_new_error(app):
    recorder = RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=recorder)
    tasks = failing_tasks(app)

    tasks.charge.apply(args=["order-1"], task_id="medic-5-7",
                       headers={"medic_execution_id": 5, "medic_idempotency_key": "medic-execution-5"},
                       link_error=app.signature("medic.recovery.replay_failed",
                                                kwargs={"attempt_id": 7, "signature": "sig"}, queue="medic.recovery"))

    [sent] = recorder.calls  # no medic.report: the replay's failure is its attempt's outcome
    assert sent["name"] == "medic.recovery.replay_failed" and sent["queue"] == "medic.recovery"
    assert sent["args"] == ["medic-5-7"] and sent["parent_id"] == "medic-5-7"
    assert sent["kwargs"]["attempt_id"] == 7 and sent["kwargs"]["signature"] == "sig"
    error = sent["kwargs"]["error"]
    validated(error)
    assert error["error_type"] == "ConnectionError" and error["medic_execution_id"] == 5
    assert error["operation"] == "shop.charge" and error["service"] == SERVICE


def test_failed_replay_whose_outcome_cannot_be_sent_is_logged(app, caplog):
    medic_celery.install(app, service=SERVICE, reporter=RecordingApp(OSError("down")))
    tasks = failing_tasks(app)
    with caplog.at_level(logging.ERROR, logger="medic.capture"):
        tasks.charge.apply(args=["o"], headers={"medic_execution_id": 5},
                           link_error=app.signature("medic.recovery.replay_failed", kwargs={"attempt_id": 7}))
    assert any("replay outcome failed" in r.getMessage() for r in caplog.records)


def test_celery_retry_of_a_replay_keeps_the_swapped_errback_and_reports_once(app):
    recorder = RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=recorder)
    runs = []

    @app.task(shared=False, name="shop.retrying", bind=True, autoretry_for=(ConnectionError,), max_retries=1,
              default_retry_delay=0)
    def retrying(self):
        runs.append(list(self.request.errbacks or []))
        raise ConnectionError("still down")

    retrying.apply(task_id="medic-5-8", headers={"medic_execution_id": 5},
                   link_error=app.signature("medic.recovery.replay_failed", kwargs={"attempt_id": 8, "signature": "s"}))

    assert len(runs) == 2  # the replay and Celery's retry of it
    assert [e["task"] for e in runs[1]] == [celery_replays.CLIENT_REPLAY_FAILED_TASK]  # the retry carried the swap
    [sent] = recorder.calls
    assert sent["name"] == "medic.recovery.replay_failed" and sent["args"] == ["medic-5-8"]
    assert sent["kwargs"]["attempt_id"] == 8 and sent["kwargs"]["error"]["context"]["retries"] == 1


def test_failure_signalled_without_the_tasks_request_uses_the_signals_own_fields(app):
    # A hard time limit: the worker's main process sends task_failure with no request of the task pushed.
    recorder = RecordingApp()
    installation = medic_celery.install(app, service=SERVICE, reporter=recorder)
    charge = failing_tasks(app).charge
    installation.on_task_failure(sender=charge, exception=TimeoutError("hard time limit"), task_id="t-9",
                                 args=["order-9"], kwargs={"amount": 1})
    [event] = recorder.calls[0]["args"]
    assert event["idempotency_key"] == "celery-task-t-9"
    assert event["replay"]["args"] == ["order-9"] and event["replay"]["kwargs"] == {"amount": 1}


def test_a_failure_a_guard_in_the_task_reported_already_is_not_reported_again(app):
    recorder = RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=recorder)
    reporter = Reporter(recorder, service=SERVICE)

    @app.task(name="shop.guarded")
    def guarded():
        with reporter.guard(operation="inner"):
            raise ConnectionError("refused")

    guarded.apply(task_id="t-9")
    assert [sent["args"][0]["operation"] for sent in recorder.calls] == ["inner"]
