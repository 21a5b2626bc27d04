"""Unit tests for workers.intake.contract: the public medic.report message, schema version 1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from workers.intake.contract import SCHEMA_VERSION, ActionTarget, CeleryTarget, ErrorEvent, HttpTarget

MINIMAL = {"error_type": "ConnectionError", "message": "connection refused", "service": "billing"}


def event(**fields) -> dict:
    return {**MINIMAL, **fields}


def errors(payload: dict) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as info:
        ErrorEvent.model_validate(payload)
    return [(e["loc"], e["msg"]) for e in info.value.errors()]


def error_locs(payload: dict) -> set[tuple]:
    return {loc for loc, _ in errors(payload)}


# --------------------------------------------------------------------------- valid events


def test_minimal_event_and_defaults():
    e = ErrorEvent.model_validate(MINIMAL)
    assert (e.error_type, e.message, e.service) == ("ConnectionError", "connection refused", "billing")
    assert e.error_mro == [] and e.causes == [] and e.context == {}
    assert e.operation is e.source is e.http_status is e.errno is e.code is None
    assert e.traceback is e.occurred_at is e.idempotency_key is e.replay is e.fallback is None
    assert e.schema_version == SCHEMA_VERSION == 1
    assert e.model_extra == {}


def test_all_optional_fields():
    payload = event(
        error_mro=["ConnectionError", "OSError", "Exception"],
        operation="charge",
        source="celery",
        http_status=503,
        errno=111,
        code="08006",
        causes=[{"error_type": "OSError", "message": "boom"}, {"error_type": "TimeoutError"}],
        traceback="Traceback (most recent call last):\n  ...",
        context={"order": 42, "nested": {"a": [1, 2]}},
        occurred_at="2024-05-01T12:30:00+02:00",
        idempotency_key="evt-1",
        replay={"kind": "celery", "task": "billing.charge", "args": [1], "kwargs": {"a": 2}, "queue": "q"},
        fallback={"kind": "action", "name": "notify", "params": {"to": "ops"}},
        schema_version=1,
    )
    e = ErrorEvent.model_validate(payload)
    assert e.error_mro == ["ConnectionError", "OSError", "Exception"]
    assert (e.operation, e.source, e.http_status, e.errno, e.code) == ("charge", "celery", 503, 111, "08006")
    assert [(c.error_type, c.message) for c in e.causes] == [("OSError", "boom"), ("TimeoutError", "")]
    assert e.context == {"order": 42, "nested": {"a": [1, 2]}}
    assert e.occurred_at == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert e.idempotency_key == "evt-1"
    assert isinstance(e.replay, CeleryTarget) and e.replay.queue == "q"
    assert isinstance(e.fallback, ActionTarget) and e.fallback.params == {"to": "ops"}
    assert e.model_extra == {}


def test_event_survives_json_round_trip():
    e = ErrorEvent.model_validate(event(occurred_at="2024-05-01T12:00:00Z", errno="ECONNREFUSED"))
    again = ErrorEvent.model_validate(json.loads(e.model_dump_json()))
    assert again == e


def test_unknown_extra_fields_are_kept():
    e = ErrorEvent.model_validate(event(future_field={"x": 1}, tenant="acme"))
    assert e.model_extra == {"future_field": {"x": 1}, "tenant": "acme"}
    assert e.model_dump()["tenant"] == "acme"


def test_unknown_extra_fields_in_causes_are_kept():
    e = ErrorEvent.model_validate(event(causes=[{"error_type": "X", "errno": 5}]))
    assert e.causes[0].model_extra == {"errno": 5}


def test_names_are_stripped():
    e = ErrorEvent.model_validate(event(error_type="  ValueError ", service=" billing"))
    assert (e.error_type, e.service) == ("ValueError", "billing")


@pytest.mark.parametrize("errno", [111, "111", "ECONNREFUSED", -1])
def test_errno_as_int_or_string(errno):
    assert ErrorEvent.model_validate(event(errno=errno)).errno == errno


@pytest.mark.parametrize("status", [100, 429, 599])
def test_http_status_bounds_accepted(status):
    assert ErrorEvent.model_validate(event(http_status=status)).http_status == status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00.250Z", datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)),
        ("2024-05-01T12:00:00+00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ],
)
def test_occurred_at_iso_8601(text, expected):
    parsed = ErrorEvent.model_validate(event(occurred_at=text)).occurred_at
    assert parsed == expected
    assert parsed.utcoffset() is not None


def test_occurred_at_datetime_object_accepted():
    when = datetime(2024, 5, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert ErrorEvent.model_validate(event(occurred_at=when)).occurred_at == when


# --------------------------------------------------------------------------- invalid events


@pytest.mark.parametrize("missing", ["error_type", "message", "service"])
def test_required_fields(missing):
    payload = event()
    del payload[missing]
    assert errors(payload) == [((missing,), "Field required")]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("error_type", 42),
        ("error_type", ""),
        ("error_type", "   "),
        ("error_type", "x" * 257),
        ("message", None),
        ("message", 5),
        ("service", ["billing"]),
        ("http_status", "500"),
        ("http_status", 500.0),
        ("http_status", 700),
        ("http_status", 99),
        ("http_status", True),
        ("errno", True),
        ("errno", 1.5),
        ("errno", "E" * 65),
        ("code", 8006),
        ("causes", {"error_type": "X"}),
        ("causes", "X"),
        ("causes", [{"message": "no type"}]),
        ("causes", [{"error_type": "X"}] * 33),
        ("error_mro", "OSError"),
        ("error_mro", ["X"] * 65),
        ("context", []),
        ("context", "k=v"),
        ("occurred_at", "yesterday"),
        ("occurred_at", 1714560000),
        ("idempotency_key", ""),
        ("idempotency_key", 7),
        ("traceback", ["line"]),
        ("schema_version", 2),
        ("schema_version", 0),
        ("schema_version", "1"),
    ],
)
def test_wrong_types_rejected(field, value):
    locs = error_locs(event(**{field: value}))
    assert locs and all(loc[0] == field for loc in locs)


def test_schema_version_boolean_rejected():
    errors(event(schema_version=True))


def test_occurred_at_error_message():
    assert errors(event(occurred_at="yesterday")) == [(("occurred_at",), "Value error, must be an ISO-8601 date-time")]


def test_several_problems_reported_at_once():
    locs = error_locs({"error_type": 1, "message": 2, "http_status": "x"})
    assert locs == {("error_type",), ("message",), ("service",), ("http_status",)}


# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("target", "cls"),
    [
        ({"kind": "celery", "task": "billing.charge"}, CeleryTarget),
        ({"kind": "http", "url": "https://api.example.com/x"}, HttpTarget),
        ({"kind": "http", "url": "http://localhost:8080/x", "method": "put", "headers": {"A": "b"}, "body": {"k": 1}},
         HttpTarget),
        ({"kind": "action", "name": "notify"}, ActionTarget),
    ],
)
@pytest.mark.parametrize("slot", ["replay", "fallback"])
def test_targets_discriminated_by_kind(slot, target, cls):
    parsed = getattr(ErrorEvent.model_validate(event(**{slot: target})), slot)
    assert isinstance(parsed, cls)
    assert parsed.kind == target["kind"]


def test_http_target_defaults_and_method_upper_cased():
    t = ErrorEvent.model_validate(event(replay={"kind": "http", "url": "https://x", "method": "patch"})).replay
    assert (t.method, t.headers, t.body, t.timeout_s) == ("PATCH", {}, None, 10.0)
    assert ErrorEvent.model_validate(event(replay={"kind": "http", "url": "https://x"})).replay.method == "POST"


def test_celery_target_defaults():
    t = ErrorEvent.model_validate(event(replay={"kind": "celery", "task": "t"})).replay
    assert (t.args, t.kwargs, t.queue) == ([], {}, None)


@pytest.mark.parametrize(
    ("target", "loc"),
    [
        ({"kind": "http", "url": "ftp://example.com/x"}, ("replay", "http", "url")),
        ({"kind": "http", "url": "example.com/x"}, ("replay", "http", "url")),
        ({"kind": "http", "url": "javascript:alert(1)"}, ("replay", "http", "url")),
        ({"kind": "http"}, ("replay", "http", "url")),
        ({"kind": "http", "url": "https://x", "method": "TRACE"}, ("replay", "http", "method")),
        ({"kind": "http", "url": "https://x", "timeout_s": 0}, ("replay", "http", "timeout_s")),
        ({"kind": "http", "url": "https://x", "timeout_s": 301}, ("replay", "http", "timeout_s")),
        ({"kind": "http", "url": "https://x", "headers": {"A": 1}}, ("replay", "http", "headers", "A")),
        ({"kind": "celery"}, ("replay", "celery", "task")),
        ({"kind": "celery", "task": "t", "args": "x"}, ("replay", "celery", "args")),
        ({"kind": "celery", "task": "t", "surprise": 1}, ("replay", "celery", "surprise")),
        ({"kind": "action", "name": ""}, ("replay", "action", "name")),
        ({"kind": "smtp", "to": "x"}, ("replay",)),
        ({"task": "t"}, ("replay",)),
        ("billing.charge", ("replay",)),
    ],
)
def test_invalid_targets_rejected(target, loc):
    assert loc in error_locs(event(replay=target))


def test_unknown_kind_message_lists_the_kinds():
    [(loc, msg)] = errors(event(fallback={"kind": "smtp"}))
    assert loc == ("fallback",)
    assert "'smtp'" in msg and all(k in msg for k in ("'celery'", "'http'", "'action'"))
