"""Unit tests for workers.task_reprs: what task events, inspect replies and Flower show of medic's tasks."""

from __future__ import annotations

import json
import warnings

import pytest
from celery import Celery
from celery.contrib.testing.mocks import TaskMessage
from celery.exceptions import DuplicateTaskNameWarning

from medic_client.reprs import (
    ELLIPSIS,
    MAX_FIELD_CHARS,
    MAX_REPR_CHARS,
    args_repr,
    event_summary,
    kwargs_repr,
    masked_json,
)
from workers.task_reprs import MaskedAMQP, MaskedRequest, MedicTask

SECRET = "hunter2-very-secret"
TOKEN = "ghp_" + "a1B2c3D4e5" * 3


def secret_event(**fields) -> dict:
    return {"error_type": "billing.LoginFailed", "message": f"login refused: password={SECRET}", "service": "billing",
            "context": {"password": SECRET, "headers": {"Authorization": f"Bearer {TOKEN}"}},
            "traceback": f"Traceback ...\nLoginFailed: password={SECRET}", **fields}


# --------------------------------------------------------------------------- medic.report: a summary


def test_report_is_summarised_in_a_fixed_order_with_secrets_masked():
    event = secret_event(operation="login", source="billing-api", http_status=401, code="E42")
    assert args_repr("medic.report", (event,)) == (
        'service=billing error_type=billing.LoginFailed operation=login source=billing-api http_status=401 code=E42 '
        'message="login refused: password=***"')


def test_summary_leaves_out_missing_and_empty_fields_and_quotes_only_when_needed():
    assert event_summary({"error_type": "KeyError", "message": "", "service": "orders"}) == \
        "service=orders error_type=KeyError"
    assert event_summary({"error_type": "KeyError", "message": "a=b", "service": 'say "hi"'}) == \
        'service="say \\"hi\\"" error_type=KeyError message="a=b"'
    assert event_summary({"error_type": "X", "message": "two\nlines"}) == 'error_type=X message="two\\nlines"'


def test_summary_caps_each_field_and_the_whole():
    text = args_repr("medic.report", ({"error_type": "E" * 5000, "service": "s" * 5000, "message": "m" * 5000},))
    assert len(text) <= MAX_REPR_CHARS
    assert f"service={'s' * (MAX_FIELD_CHARS - len(ELLIPSIS))}{ELLIPSIS} " in text


def test_a_secret_is_masked_before_the_cut():
    # Cut first, the token would lose its tail and no longer look like one; masked first, nothing of it shows.
    message = "x" * (MAX_FIELD_CHARS - 20) + f" Authorization: Bearer {TOKEN}"
    text = event_summary({"error_type": "E", "message": message})
    assert "a1B2" not in text and text.endswith(ELLIPSIS + '"')


def test_summary_of_odd_field_types_is_masked_json():
    assert event_summary({"error_type": ["A", "B"], "service": {"token": SECRET}, "http_status": 503}) == \
        'service="{\\"token\\": \\"***\\"}" error_type="[\\"A\\", \\"B\\"]" http_status=503'


@pytest.mark.parametrize("args", [
    (),
    ("not an event",),
    ({"context": {"password": SECRET}},),  # names none of the summary fields
    (secret_event(), {"password": SECRET}),
])
def test_report_arguments_that_are_not_one_event_show_as_masked_json(args):
    text = args_repr("medic.report", args)
    assert SECRET not in text and TOKEN not in text
    assert text.startswith("[")


# --------------------------------------------------------------------------- other tasks: masked JSON


def test_other_tasks_show_their_arguments_as_json():
    assert args_repr("medic.recovery.run", (42,)) == "[42]"
    assert args_repr("medic.recovery.deliver", [7, None]) == "[7, null]"
    assert kwargs_repr({"attempt_id": 3}) == '{"attempt_id": 3}'
    assert kwargs_repr(None) == kwargs_repr({}) == "{}"


def test_masked_json_masks_secret_keys_free_text_and_nested_tuples():
    text = masked_json(("a", ({"api_key": "k-123", "url": f"https://u:{SECRET}@h/"}, f"token={SECRET}")))
    assert json.loads(text) == ["a", [{"api_key": "***", "url": "https://u:***@h/"}, "token=***"]]


def test_masked_json_shows_other_objects_by_their_masked_repr():
    class Credentials:
        def __repr__(self):
            return f"Credentials(password={SECRET})"

    assert masked_json([Credentials()]) == '["Credentials(password=***)"]'


def test_masked_json_is_capped_and_survives_what_json_cannot_encode():
    text = masked_json(["x" * 5000])
    assert len(text) == MAX_REPR_CHARS and text.endswith(ELLIPSIS)
    loop: list = []
    loop.append(loop)
    assert masked_json(loop) == "<list>"


def test_masking_a_large_event_is_quick_enough_for_the_consumer():
    import time

    event = secret_event(message="word " * 50_000)
    started = time.perf_counter()
    args_repr("medic.report", (event,))
    assert time.perf_counter() - started < 0.5


# --------------------------------------------------------------------------- the worker's request


class Eventer:
    enabled = True

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    def send(self, type, **fields):
        self.sent.append((type, fields))


@pytest.fixture
def app():
    app = Celery("test-reprs", broker="memory://", set_as_current=False, task_cls=MedicTask, amqp=MaskedAMQP)

    # Registered now (lazy=False), not when the app is finalized: finalizing first adds every
    # @shared_task imported so far to the app (tasks.intake's medic.report, once any test imported
    # it), and a lazy task of the same name would then be dropped for it.
    @app.task(name="medic.report", shared=False, lazy=False)
    def report(event):
        return {"status": "stored"}

    with warnings.catch_warnings():  # finalizing: "tasks.intake.report was not registered", as intended
        warnings.simplefilter("ignore", DuplicateTaskNameWarning)
        app.finalize()
    assert app.tasks["medic.report"] is report
    yield app
    app.close()


def request_for(app: Celery, args, kwargs=None, eventer=None) -> MaskedRequest:
    # The app's own client wrote argsrepr unmasked into the message headers.
    message = TaskMessage("medic.report", args=args, kwargs=kwargs or {}, argsrepr=repr(args),
                          kwargsrepr=repr(kwargs or {}))
    message.delivery_info, message.properties = {}, {}
    request_cls = app.tasks["medic.report"].Request
    assert request_cls == "workers.task_reprs:MaskedRequest"
    return MaskedRequest(message, app=app, task=app.tasks["medic.report"], eventer=eventer, hostname="w@h")


def test_request_replaces_the_senders_text_forms(app):
    request = request_for(app, [secret_event()], {"note": f"token={SECRET}"})
    assert request.argsrepr == 'service=billing error_type=billing.LoginFailed message="login refused: password=***"'
    assert request.kwargsrepr == '{"note": "token=***"}'
    # The pool process builds the task's context (and the log lines) from the request dict.
    assert request.request_dict["argsrepr"] == request.argsrepr
    assert request.request_dict["kwargsrepr"] == request.kwargsrepr
    assert request.args == [secret_event()]  # the task itself still gets the event as sent


def test_inspect_replies_carry_the_text_forms_not_the_arguments(app):
    request = request_for(app, [secret_event()])
    info = request.info()  # what `inspect active/reserved/scheduled` send, safe=False by default
    assert info["args"] == request.argsrepr and info["kwargs"] == "{}"
    assert SECRET not in repr(info)


def test_result_exception_and_traceback_of_events_are_masked(app):
    eventer = Eventer()
    request = request_for(app, [secret_event()], eventer=eventer)
    request.send_event("task-succeeded", result=f"{{'reason': 'token={SECRET}'}}", runtime=0.1)
    request.send_event("task-failed", exception=f"StorageUnavailable('postgresql://medic:{SECRET}@db/medic')",
                       traceback=f"Traceback...\n  password={SECRET}\n")
    request.send_event("task-retried", exception=None, traceback=None)
    request.send_event("task-started")
    assert [event for event, _ in eventer.sent] == ["task-succeeded", "task-failed", "task-retried", "task-started"]
    assert SECRET not in repr(eventer.sent)
    assert eventer.sent[0][1]["result"] == "{'reason': 'token=***'}" and eventer.sent[0][1]["runtime"] == 0.1
    assert eventer.sent[1][1]["exception"] == "StorageUnavailable('postgresql://medic:***@db/medic')"


def test_a_long_result_is_capped(app):
    eventer = Eventer()
    request_for(app, [{}], eventer=eventer).send_event("task-succeeded", result="r" * 5000, runtime=0)
    assert len(eventer.sent[0][1]["result"]) == MAX_REPR_CHARS


# --------------------------------------------------------------------------- what medic's processes send


def test_messages_sent_by_medic_carry_masked_text_forms_in_headers_and_the_sent_event(app):
    message = app.amqp.create_task_message("id-1", "medic.report", [secret_event()], {"k": f"token={SECRET}"},
                                           create_sent_event=True)
    assert message.headers["argsrepr"].startswith("service=billing error_type=billing.LoginFailed")
    assert message.sent_event["args"] == message.headers["argsrepr"]
    assert message.sent_event["kwargs"] == message.headers["kwargsrepr"] == '{"k": "token=***"}'
    assert SECRET not in repr(message.headers) + repr(message.sent_event)
    assert message.body[0] == [secret_event()]  # the arguments themselves travel unchanged


def test_a_text_form_given_by_the_sender_is_kept(app):
    message = app.amqp.create_task_message("id-2", "app.tasks.replay", [1], {}, argsrepr="(one)", kwargsrepr="")
    assert (message.headers["argsrepr"], message.headers["kwargsrepr"]) == ("(one)", "")


def test_medic_app_uses_the_masking_classes():
    from config.celery_app import app as medic_app
    from tasks.intake import report

    assert isinstance(medic_app.amqp, MaskedAMQP)
    assert issubclass(medic_app.Task, MedicTask)
    # medic.report is consumed in batches, by its own strategy: no Request, no task events per event.
    assert report.Strategy == "workers.intake.batching:batch_strategy"
