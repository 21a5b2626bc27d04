"""A Celery replay's own headers and priority: the contract's rules (shared with the client), the replay-time
second line (target_policy), how dispatch merges them with medic's, and what the client captures of a task."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery
from celery.app.task import Context
from celery.worker.request import Request
from pydantic import ValidationError

import medic_client.celery as medic_celery
from config.replay_targets import ReplayTargetSettings
from medic_client import celery_targets
from medic_client.celery_options import DEFAULT
from medic_client.celery_targets import HEADERS_LEFT_OUT_KEY, app_headers, headers_problem, is_reserved_header
from tests.support.recording_app import RecordingApp, shop_app
from workers.intake.contract import CeleryTarget, ErrorEvent
from workers.intake.triage import describe_invalid
from workers.recovery import target_policy
from workers.recovery.dispatch import EXECUTION_HEADER, IDEMPOTENCY_HEADER, CeleryDispatcher, replay_headers

SERVICE = "partner-api"
ALLOWED = ReplayTargetSettings(celery_tasks=["shop.*"], celery_queues=["shop"], actions=[])


def target(**fields: Any) -> dict:
    return {"kind": "celery", "task": "shop.charge", "args": ["o-1"], "queue": "shop", **fields}


def rejection(**fields: Any) -> str:
    """Why intake rejects an event whose replay target has these fields."""
    event = {"error_type": "ConnectionError", "message": "down", "service": SERVICE, "replay": target(**fields)}
    with pytest.raises(ValidationError) as caught:
        ErrorEvent.model_validate(json.loads(json.dumps(event)))
    return describe_invalid(caught.value)


# --------------------------------------------------------------------------- the contract

def test_headers_and_priority_are_optional_and_kept_as_sent():
    assert CeleryTarget.model_validate(target()).headers == {}
    assert CeleryTarget.model_validate(target()).priority is None
    headers = {"tenant": "acme", "X-Trace.id": "t-1", "attempt": 3, "ratio": 0.5, "beta": True, "none": None}
    parsed = CeleryTarget.model_validate(target(headers=headers, priority=5))
    assert parsed.headers == headers and parsed.priority == 5
    assert CeleryTarget.model_validate(target(priority=0)).priority == 0
    assert CeleryTarget.model_validate(target(priority=255)).priority == 255


# The list the brief names, then Celery's request fields and methods, the broker's, and medic's, in any case.
RESERVED = ["task", "id", "root_id", "parent_id", "group", "group_id", "group_index", "eta", "countdown", "expires",
            "timelimit", "time_limit", "soft_time_limit", "retries", "argsrepr", "kwargsrepr", "origin",
            "ignore_result", "shadow", "stamps", "stamped_headers", "replaced_task_nesting", "lang", "chord", "chain",
            "callbacks", "errbacks", "link", "link_error", "medic_idempotency_key", "medic_execution_id",
            "medic_anything", "TASK", "Task", "ETA", "Medic_Execution_Id", "MEDIC_x", "get", "headers",
            "delivery_info", "_protected", "__dict__", "x-death", "X-Delivery-Count"]


@pytest.mark.parametrize("name", RESERVED)
def test_a_reserved_header_is_rejected_at_intake_naming_it(name):
    reason = rejection(headers={"tenant": "acme", name: "x"})
    assert "replay.celery.headers" in reason and repr(name) in reason and "Celery's or medic's own" in reason


def test_every_reserved_header_in_one_event_is_named():
    reason = rejection(headers={"task": "x", "medic_execution_id": 1})
    assert "'medic_execution_id', 'task' are Celery's or medic's own" in reason


def test_every_header_celery_itself_writes_or_reads_is_reserved():
    """A Celery upgrade that adds a protocol header or a request attribute fails here, not in production."""
    app = Celery("probe", set_as_current=False)
    message = app.amqp.as_task_v2("id-1", "shop.charge", args=[1], stamped_headers=["s"], s="v")
    request_fields = [name for name in dir(Context) if not name.startswith("__")]
    written = [*message.headers, *request_fields, "properties", "reply_to", "correlation_id", "hostname",
               "delivery_info", "args", "kwargs", "callbacks", "errbacks", "chain", "chord", "is_eager"]
    assert [name for name in written if not is_reserved_header(name)] == []
    app.close()


@pytest.mark.parametrize("headers, expected", [
    ({f"h{n}": n for n in range(33)}, "at most 32 headers, not 33"),
    ({"a" * 129: 1}, "a name must be 1 to 128 characters"),
    ({"": 1}, "a name must be 1 to 128 characters"),
    ({"with space": 1}, "a name must be 1 to 128 characters"),
    ({"tenant/id": 1}, "a name must be 1 to 128 characters"),
    ({"naïve": 1}, "a name must be 1 to 128 characters"),
    ({"note": "x" * 1025}, "header 'note': a text value is at most 1024 characters, not 1025"),
    ({"ids": [1, 2]}, "header 'ids': the value must be a string, number, boolean or null, not a list"),
    ({"who": {"a": 1}}, "header 'who': the value must be a string, number, boolean or null, not an object"),
    ({"big": 2**63}, "header 'big': an integer value must fit in 64 bits"),
    ({f"h{n}": "x" * 1000 for n in range(9)}, "bytes as JSON, over 8192"),
])
def test_headers_outside_the_limits_are_rejected_saying_why(headers, expected):
    assert expected in rejection(headers=headers)


def test_limits_themselves_are_allowed():
    at_limits = {"a" * 128: "x" * 1024, "n": 2**63 - 1, "m": -(2**63)}
    assert CeleryTarget.model_validate(target(headers=at_limits)).headers == at_limits
    assert CeleryTarget.model_validate(target(headers={f"h{n}": n for n in range(32)})).headers


@pytest.mark.parametrize("priority, expected", [
    (256, "less than or equal to 255"), (-1, "greater than or equal to 0"), (True, "not a boolean"),
    ("5", "valid integer"), (5.0, "valid integer"),
])
def test_a_bad_priority_is_rejected(priority, expected):
    reason = rejection(priority=priority)
    assert "replay.celery.priority" in reason and expected in reason


def test_non_finite_numbers_are_rejected():
    # JSON has no NaN; Python's json module writes one anyway.
    assert headers_problem({"x": float("nan")}) == "header 'x': a number must be finite"
    assert headers_problem({"x": float("inf")}) == "header 'x': a number must be finite"


def test_plans_are_bound_by_the_same_rules():
    from workers.recovery.plans import FallbackStep

    with pytest.raises(ValidationError, match="'eta' is Celery's or medic's own"):
        FallbackStep.model_validate({"kind": "fallback", "target": target(headers={"eta": "2030-01-01"})})


# --------------------------------------------------------------------------- replay time: policy and dispatch

@pytest.mark.parametrize("by_plan", [False, True])
def test_a_target_that_never_passed_the_contract_is_refused_at_replay(by_plan):
    why = target_policy.refusal(target(headers={"tenant": "a", "Task": "medic.recovery.replay_succeeded"}),
                                by_plan=by_plan, allowed=ALLOWED)
    assert why is not None and "header Task" in why and "never set by a replay target" in why
    assert target_policy.refusal(target(headers={"medic_execution_id": 9}), by_plan=by_plan, allowed=ALLOWED)


def test_a_target_with_the_apps_headers_is_allowed():
    assert target_policy.refusal(target(headers={"tenant": "acme"}, priority=5), by_plan=False, allowed=ALLOWED) is None
    assert target_policy.refusal(target(), by_plan=False, allowed=ALLOWED) is None


class SendRecorder:
    """A Celery app whose send_task is recorded (signatures are real)."""

    def __init__(self, monkeypatch):
        self.app = Celery("medic-test", set_as_current=False)
        self.sent: list[dict[str, Any]] = []
        monkeypatch.setattr(self.app, "send_task", lambda name, **options: self.sent.append({"name": name, **options}))


def replay(dispatcher: CeleryDispatcher, replay_target: dict) -> None:
    dispatcher.replay(replay_target, task_id="medic-7-9", attempt_id=9, execution_id=7, idempotency_key="key-1",
                      signature="sig")


def test_dispatch_sends_the_targets_headers_and_priority_with_medics_winning(monkeypatch):
    recorder = SendRecorder(monkeypatch)
    # medic_* in a target cannot pass the contract or target_policy; were it there, medic's still win
    replay(CeleryDispatcher(recorder.app), target(headers={"tenant": "acme", "n": 1, IDEMPOTENCY_HEADER: "forged",
                                                           EXECUTION_HEADER: 1}, priority=5))
    [sent] = recorder.sent
    assert sent["name"] == "shop.charge" and sent["queue"] == "shop" and sent["task_id"] == "medic-7-9"
    assert sent["headers"] == {"tenant": "acme", "n": 1, IDEMPOTENCY_HEADER: "key-1", EXECUTION_HEADER: 7}
    assert sent["priority"] == 5
    recorder.app.close()


@pytest.mark.parametrize("extra", [{}, {"headers": {}, "priority": None}])
def test_dispatch_without_headers_or_priority_sends_medics_only(monkeypatch, extra):
    recorder = SendRecorder(monkeypatch)
    replay(CeleryDispatcher(recorder.app), target(**extra))
    [sent] = recorder.sent
    assert sent["headers"] == {IDEMPOTENCY_HEADER: "key-1", EXECUTION_HEADER: 7}
    assert "priority" not in sent
    recorder.app.close()


def test_replay_headers_is_a_fresh_dict():
    headers = {"tenant": "acme"}
    merged = replay_headers({"headers": headers}, idempotency_key="k", execution_id=1)
    assert merged == {"tenant": "acme", IDEMPOTENCY_HEADER: "k", EXECUTION_HEADER: 1} and headers == {"tenant": "acme"}


# --------------------------------------------------------------------------- the client: what it captures

def test_app_headers_keeps_the_apps_own_and_drops_celerys_silently():
    fields = {"id": "t", "task": "shop.charge", "lang": "py", "argsrepr": "()", "timelimit": [None, None],
              "delivery_info": {"priority": 5}, "hostname": "w", "_children": [], "stamps": {}, "mystamp": "s",
              IDEMPOTENCY_HEADER: "k", EXECUTION_HEADER: 3, "x-death": [{}], "tenant": "acme", "trace.id": 7}
    kept, left_out = app_headers(fields, {"tenant": "acme", "trace.id": 7}, protocol_names=dir(Context),
                                 stamped=["mystamp"])
    assert kept == {"tenant": "acme", "trace.id": 7} and left_out == []


def test_app_headers_says_what_it_cannot_carry():
    fields = {"tenant": "acme", "Task": "x", "medic_tenant": "y", "ids": [1], "note": "x" * 1025, "nan": float("nan"),
              "has space": 1, "when": object()}
    kept, left_out = app_headers(fields, None)
    assert kept == {"tenant": "acme"}
    text = "\n".join(left_out)
    for name in ("Task", "medic_tenant", "ids", "note", "nan", "has space", "when"):
        assert repr(name) in text, (name, left_out)


def test_app_headers_keeps_within_the_count_and_size():
    kept, left_out = app_headers({f"h{n:02d}": n for n in range(40)}, None)
    assert list(kept) == [f"h{n:02d}" for n in range(32)] and len(left_out) == 8 and "over 32 headers" in left_out[0]
    kept, left_out = app_headers({f"h{n}": "x" * 1000 for n in range(10)}, None)
    assert headers_problem(kept) is None and len(kept) == 8 and len(left_out) == 2 and "over 8192 bytes" in left_out[0]


@pytest.fixture
def app():
    yield from shop_app()


def charge_task(app):
    @app.task(shared=False, name="shop.charge", bind=True)
    def charge(self, order):
        raise ConnectionError("gateway unreachable")

    return charge


def test_a_task_run_with_apply_reports_its_headers_and_priority(app):
    recorder = RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=recorder)
    charge = charge_task(app)

    charge.apply(args=["o-1"], task_id="t-1", priority=5,
                 headers={"tenant": "acme", "attempt": 2, "ids": [1, 2], "task": "evil", "root_id": "r"})

    [event] = recorder.sent
    assert event["replay"] == {"kind": "celery", "task": "shop.charge", "args": ["o-1"], "kwargs": {}, "queue": "shop",
                               "headers": {"tenant": "acme", "attempt": 2}, "priority": 5}
    assert event["context"][HEADERS_LEFT_OUT_KEY] == [
        "header 'ids': the value must be a string, number, boolean or null, not a list"]


def test_a_task_run_without_headers_reports_none(app):
    recorder = RecordingApp()
    medic_celery.install(app, service=SERVICE, reporter=recorder)
    charge_task(app).apply(args=["o-1"], task_id="t-2")
    [event] = recorder.sent
    assert "headers" not in event["replay"] and "priority" not in event["replay"]
    assert HEADERS_LEFT_OUT_KEY not in event["context"]


def test_a_worker_shaped_request_reports_the_messages_headers_and_priority(app):
    """The request a worker builds (celery.worker.request.Request from a protocol-2 message, then the tracer's
    Context): every header is a top-level field there, and the priority is the message property."""
    installation = medic_celery.install(app, service=SERVICE, reporter=RecordingApp())
    charge = charge_task(app)
    message = app.amqp.as_task_v2("t-3", "shop.charge", args=["o-1"], kwargs={})
    headers = {**message.headers, "tenant": "acme", "trace.id": 7, IDEMPOTENCY_HEADER: "k"}
    wire = SimpleNamespace(headers=headers, body=message.body, payload=message.body, content_type="application/json",
                           content_encoding="utf-8", delivery_info={"exchange": "", "routing_key": "shop"},
                           properties={"priority": 5, "correlation_id": "t-3"})
    worker_request = Request(wire, app=app, task=charge, hostname="w1")
    context = Context(worker_request.request_dict, called_directly=False, is_eager=False)

    event = installation.event_for("shop.charge", charge, context, ConnectionError("down"), DEFAULT)

    assert event["replay"]["headers"] == {"tenant": "acme", "trace.id": 7}
    assert event["replay"]["priority"] == 5 and event["replay"]["queue"] == "shop"
    assert CeleryTarget.model_validate(json.loads(json.dumps(event["replay"])))
    assert HEADERS_LEFT_OUT_KEY not in event["context"]


def test_a_priority_the_contract_would_refuse_is_left_out():
    assert celery_targets.replay_target("t", [], {}, "q", priority=300)[0] == {
        "kind": "celery", "task": "t", "args": [], "kwargs": {}, "queue": "q"}
    assert "priority" not in celery_targets.replay_target("t", [], {}, "q", priority=True)[0]
