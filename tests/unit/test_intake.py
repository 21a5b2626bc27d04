"""Unit tests for workers.intake.triage: validate, cap, mask, classify, fingerprint or reject."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from config.settings import load_settings
from workers.classification import Classifier
from workers.classification.rules import load_rules
from workers.intake.contract import ErrorEvent
from workers.intake.triage import Accepted, Limits, Rejected, describe_invalid, reject, triage
from workers.masking import MASK

LIMITS = Limits(
    max_message_chars=256,
    max_traceback_chars=1_024,
    max_context_bytes=1_024,
    max_event_bytes=4_096,
    max_nesting_depth=5,
    rejected_payload_max_bytes=1_024,
)
RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BASE = {"error_type": "ConnectionError", "message": "connection refused", "service": "billing"}
SECRET = "hunter2-Secret"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - {id: test.refused, when: {message: refused}, category: network}\n"
        "  - {id: test.status, when: {http_status: 5xx}, category: unavailable}\n",
        encoding="utf-8",
    )
    return Classifier(load_rules([path]))


@pytest.fixture
def run(classifier):
    def run(raw, limits: Limits = LIMITS) -> Accepted | Rejected:
        return triage(raw, limits=limits, classifier=classifier, received_at=RECEIVED)

    return run


@pytest.fixture
def accept(run):
    def accept(**fields) -> Accepted:
        result = run({**BASE, **fields})
        assert isinstance(result, Accepted), result
        return result

    return accept


@pytest.fixture
def rejected(run):
    def rejected(raw, limits: Limits = LIMITS) -> Rejected:
        result = run(raw, limits)
        assert isinstance(result, Rejected), result
        return result

    return rejected


def nested(levels: int, leaf=None) -> dict:
    """{"k": {"k": ... leaf}} with `levels` dicts, built without recursion."""
    value = leaf
    for _ in range(levels):
        value = {"k": value}
    return value


# --------------------------------------------------------------------------- accepted


def test_accepted_minimal(accept):
    result = accept()
    assert result.event["error_type"] == "ConnectionError"
    assert result.event["schema_version"] == 1
    assert result.classification.rule == "test.refused"
    assert result.classification.category == "network"
    assert re.fullmatch(r"[0-9a-f]{64}", result.fingerprint)
    assert result.idempotency_key is None
    json.dumps(result.event)  # JSON-ready
    assert None not in result.event.values()


def test_stored_event_revalidates(accept):
    result = accept(http_status=503, causes=[{"error_type": "OSError", "message": "x"}],
                    replay={"kind": "celery", "task": "t"}, context={"a": 1})
    assert ErrorEvent.model_validate(json.loads(json.dumps(result.event))).http_status == 503


def test_occurred_at_defaults_to_received_at(accept):
    result = accept()
    assert result.occurred_at == RECEIVED
    assert result.event["occurred_at"] == RECEIVED.isoformat()


def test_occurred_at_given_is_kept(accept):
    result = accept(occurred_at="2024-04-30T08:15:00Z")
    assert result.occurred_at == datetime(2024, 4, 30, 8, 15, tzinfo=UTC)
    assert datetime.fromisoformat(result.event["occurred_at"]) == result.occurred_at


def test_idempotency_key_carried(accept):
    result = accept(idempotency_key="evt-42")
    assert result.idempotency_key == "evt-42"
    assert result.event["idempotency_key"] == "evt-42"


def test_classified_by_the_classifier(accept):
    result = accept(message="bad gateway", http_status=502)
    assert (result.classification.rule, result.classification.category) == ("test.status", "unavailable")
    assert accept(message="what").classification.rule == "default.unknown"


def test_extra_fields_kept(accept):
    assert accept(tenant="acme").event["tenant"] == "acme"


# --------------------------------------------------------------------------- masking


def test_secret_in_message_masked(accept):
    result = accept(message=f"login failed password={SECRET}")
    assert SECRET not in result.event["message"]
    assert MASK in result.event["message"]
    assert SECRET not in result.message_template


def test_secret_context_key_masked(accept):
    context = {"user": "ann", "api_key": SECRET, "nested": {"db_password": SECRET, "note": f"token={SECRET}"}}
    result = accept(context=context)
    stored = result.event["context"]
    assert stored["user"] == "ann"
    assert stored["api_key"] == MASK
    assert stored["nested"]["db_password"] == MASK
    assert SECRET not in json.dumps(stored)
    assert context["api_key"] == SECRET  # the input is not mutated


def test_secret_in_traceback_masked(accept):
    traceback = f'Traceback (most recent call last):\n  File "x.py", line 1\n    connect(password="{SECRET}")\n'
    result = accept(traceback=traceback)
    assert SECRET not in result.event["traceback"]
    assert result.event["traceback"].startswith("Traceback (most recent call last):")


def test_secret_in_cause_message_masked(accept):
    result = accept(causes=[{"error_type": "AuthError", "message": f"Authorization: Bearer {SECRET}"}])
    assert SECRET not in json.dumps(result.event["causes"])


def test_http_target_authorization_header_masked(accept):
    replay = {"kind": "http", "url": f"https://svc:{SECRET}@api.example.com/hook",
              "headers": {"Authorization": f"Bearer {SECRET}", "X-Request-Id": "r-1"}}
    result = accept(replay=replay)
    stored = result.event["replay"]
    assert stored["headers"] == {"Authorization": MASK, "X-Request-Id": "r-1"}
    assert SECRET not in stored["url"] and stored["url"].startswith("https://")


def test_celery_target_secret_kwargs_masked(accept):
    fallback = {"kind": "celery", "task": "t", "args": [f"password={SECRET}"], "kwargs": {"token": SECRET, "n": 1}}
    stored = accept(fallback=fallback).event["fallback"]
    assert stored["kwargs"] == {"token": MASK, "n": 1}
    assert SECRET not in json.dumps(stored)


def test_secret_in_extra_field_masked(accept):
    result = accept(debug={"password": SECRET, "n": 1}, note=f"api_key={SECRET}")
    assert result.event["debug"] == {"password": MASK, "n": 1}
    assert result.event["note"].startswith("api_key=") and SECRET not in result.event["note"]
    assert SECRET not in json.dumps(result.event)


@pytest.mark.parametrize("name", ["password", "client_secret", "api_key"])
def test_secret_named_extra_field_masked(accept, name):
    assert accept(**{name: SECRET}).event[name] == MASK


def test_secret_in_cause_extra_field_masked(accept):
    result = accept(causes=[{"error_type": "DbError", "message": "x", "password": SECRET}])
    assert SECRET not in json.dumps(result.event)


def test_secret_cut_by_the_cap_is_not_stored(accept):
    token = "ghp_" + "a1B2c3D4e5" * 4
    kept = len("ghp_") + 19  # too short for the token pattern once cut
    message = "x" * (LIMITS.max_message_chars - kept - 1) + " " + token + " rest"
    stored = accept(message=message).event["message"]
    assert token[:kept] not in stored


# --------------------------------------------------------------------------- capping


def test_long_message_truncated(accept):
    message = "m" * 300
    result = accept(message=message)
    stored = result.event["message"]
    assert stored == "m" * 256 + "…[truncated 44 chars]"
    assert stored.endswith("…[truncated 44 chars]")


def test_message_at_the_limit_untouched(accept):
    assert accept(message="m" * 256).event["message"] == "m" * 256


def test_long_traceback_truncated(accept):
    traceback = "t" * 1_500
    stored = accept(traceback=traceback).event["traceback"]
    assert stored == "t" * 1_024 + "…[truncated 476 chars]"


def test_long_cause_message_truncated(accept):
    stored = accept(causes=[{"error_type": "X", "message": "c" * 260}]).event["causes"][0]["message"]
    assert stored.endswith("…[truncated 4 chars]") and stored.startswith("c" * 256)


def test_limits_from_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDIC_MAX_MESSAGE_CHARS", "300")
    limits = Limits.from_settings(load_settings())
    assert limits == Limits(300, 32_768, 65_536, 262_144, 12, 16_384)


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_ignores_numbers(accept):
    a = accept(message="timeout after 30 s on order 123", operation="charge")
    b = accept(message="timeout after 45 s on order 98765", operation="charge")
    assert a.fingerprint == b.fingerprint
    assert a.message_template == b.message_template


@pytest.mark.parametrize(
    "change",
    [{"error_type": "TimeoutError"}, {"service": "shipping"}, {"operation": "refund"}, {"message": "disk full"}],
)
def test_fingerprint_differs(accept, change):
    base = accept(message="timeout after 30s", operation="charge")
    other = accept(**{"message": "timeout after 30s", "operation": "charge", **change})
    assert base.fingerprint != other.fingerprint


def test_fingerprint_uses_the_stored_message(accept):
    a = accept(message=f"password={SECRET}")
    b = accept(message="password=other-secret")
    assert a.fingerprint == b.fingerprint  # both stored as "password=***"


# --------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("raw", "kind"),
    [("just text", "a string"), ([BASE], "an array"), (None, "null"), (42, "a number"), (1.5, "a number"),
     (True, "a boolean")],
)
def test_not_an_object(rejected, raw, kind):
    result = rejected(raw)
    assert result.reason == f"invalid event: expected a JSON object, got {kind}"


def test_rejected_string_payload_kept_masked(rejected):
    result = rejected(f"password={SECRET} not json")
    assert SECRET not in result.payload
    assert result.payload.startswith("password=") and result.payload.endswith(" not json")
    assert result.payload_bytes == len(f"password={SECRET} not json")


@pytest.mark.parametrize("missing", ["error_type", "message", "service"])
def test_missing_required_field(rejected, missing):
    raw = dict(BASE)
    del raw[missing]
    assert rejected(raw).reason == f"invalid event: {missing}: Field required"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("http_status", "500", "http_status: Input should be a valid integer"),
        ("http_status", 700, "http_status: Input should be less than or equal to 599"),
        ("errno", True, "errno: Value error, must be a string or an integer"),
        ("causes", "boom", "causes: Input should be a valid list"),
        ("occurred_at", "yesterday", "occurred_at: Value error, must be an ISO-8601 date-time"),
        ("replay", {"kind": "http", "url": "ftp://x"}, "replay.http.url: String should match pattern"),
        ("schema_version", 2, "schema_version: Input should be 1"),
    ],
)
def test_wrong_type(rejected, field, value, says):
    reason = rejected({**BASE, field: value}).reason
    assert reason.startswith("invalid event: ")
    assert says in reason


def test_event_over_max_event_bytes(rejected):
    raw = {**BASE, "traceback": "t" * 5_000}
    result = rejected(raw)
    size = len(json.dumps(raw, ensure_ascii=False).encode())
    assert result.reason == (f"invalid event: {size} bytes, over the 4096-byte limit (MEDIC_MAX_EVENT_BYTES)")
    assert result.payload_bytes == size


def test_event_size_counts_utf8_bytes(rejected, run):
    message = "é" * 1_900  # 1_900 chars, 3_800 bytes
    assert isinstance(run({**BASE, "message": message}), Accepted)
    assert "MEDIC_MAX_EVENT_BYTES" in rejected({**BASE, "message": message + "é" * 200}).reason


def test_context_over_max_context_bytes(rejected):
    raw = {**BASE, "context": {"blob": "c" * 1_100}}
    reason = rejected(raw).reason
    assert "MEDIC_MAX_CONTEXT_BYTES" in reason
    assert reason.startswith("invalid event: context is ") and "over the 1024-byte limit" in reason


def test_context_at_the_limit_accepted(run):
    context = {"b": ""}
    context["b"] = "c" * (1_024 - len(json.dumps(context)))
    assert len(json.dumps(context)) == 1_024
    assert isinstance(run({**BASE, "context": context}), Accepted)


def test_nesting_at_the_limit_accepted(run):
    # event (1) > context and 3 more dicts (2..5) = 5 levels; scalars do not count
    assert isinstance(run({**BASE, "context": nested(4, leaf=1)}), Accepted)
    assert isinstance(run({**BASE, "context": {"list": [[["x"]]]}}), Accepted)


@pytest.mark.parametrize(
    "raw",
    [
        {**BASE, "context": nested(5, leaf=1)},
        {**BASE, "context": {"list": [[[[1]]]]}},
        {**BASE, "extra": nested(5)},
        {**BASE, "causes": [{"error_type": "X", "deep": nested(3)}]},
    ],
)
def test_nesting_over_the_limit(rejected, raw):
    assert rejected(raw).reason == "invalid event: nested deeper than 5 levels (MEDIC_MAX_NESTING_DEPTH)"


def test_very_deep_nesting_rejected_without_recursion_error(rejected):
    deep: list | dict = "bottom"
    for level in range(10_000):
        deep = [deep] if level % 2 else {"k": deep}
    result = rejected({**BASE, "context": deep})
    assert "MEDIC_MAX_NESTING_DEPTH" in result.reason
    assert len(result.payload.encode()) <= LIMITS.rejected_payload_max_bytes


def test_very_deep_array_rejected_without_recursion_error(rejected):
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    result = rejected(deep)
    assert result.reason == "invalid event: expected a JSON object, got an array"


def test_rejected_payload_capped(rejected):
    raw = {**BASE, "traceback": "t" * 5_000}
    result = rejected(raw)
    assert len(result.payload.encode("utf-8")) <= LIMITS.rejected_payload_max_bytes
    assert result.payload.startswith('{"error_type": "ConnectionError"')
    assert result.payload_bytes > LIMITS.rejected_payload_max_bytes


def test_rejected_payload_cap_keeps_valid_utf8(rejected):
    raw = {**BASE, "message": "€" * 2_000}  # 3 bytes a char: the cap falls inside a char
    result = rejected(raw)
    assert len(result.payload.encode("utf-8")) <= LIMITS.rejected_payload_max_bytes
    assert "\ufffd" not in result.payload


@pytest.mark.parametrize(
    "raw",
    [
        {"message": "no type", "password": SECRET},
        {**BASE, "http_status": "500", "context": {"password": SECRET}},
        {**BASE, "http_status": "500", "message": f"login password={SECRET}"},
        {**BASE, "replay": {"kind": "http", "url": "https://x", "headers": {"Authorization": f"Bearer {SECRET}"}},
         "http_status": "500"},
        {**BASE, "context": {"password": SECRET, "k": nested(10)}},
        {**BASE, "context": {"password": SECRET, "blob": "x" * 5_000}},
        [{"token": SECRET}],
        f"Authorization: Bearer {SECRET}",
    ],
)
def test_rejected_payload_masked(rejected, raw):
    assert SECRET not in rejected(raw).payload


def test_reject_helper(rejected):
    result = reject({"password": SECRET, "a": 1}, "because", LIMITS)
    assert result.reason == "because"
    assert json.loads(result.payload) == {"password": MASK, "a": 1}


@pytest.mark.parametrize("raw", [{1: 2}, {**BASE, "context": {1: "x"}}, b"bytes", {**BASE, "message": float("nan")}])
def test_odd_inputs_do_not_raise(run, raw):
    assert isinstance(run(raw), (Accepted, Rejected))


# --------------------------------------------------------------------------- describe_invalid


def validation_error(raw) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        ErrorEvent.model_validate(raw)
    return info.value


def test_describe_invalid_one_problem():
    assert describe_invalid(validation_error({**BASE, "http_status": "x"})) == (
        "invalid event: http_status: Input should be a valid integer")


def test_describe_invalid_lists_five_then_summarises():
    raw = {"error_type": 1, "message": 2, "service": 3, "http_status": "x", "code": 4, "traceback": 5, "context": 6}
    exc = validation_error(raw)
    assert exc.error_count() == 7
    reason = describe_invalid(exc)
    assert reason.endswith("; and 2 more")
    assert reason.count(": Input should be") == 5
    assert reason.startswith("invalid event: error_type: ")


def test_describe_invalid_exactly_five_has_no_summary():
    exc = validation_error({"error_type": 1, "message": 2, "service": 3, "http_status": "x", "code": 4})
    assert exc.error_count() == 5
    assert "more" not in describe_invalid(exc)


def test_describe_invalid_names_nested_locations():
    reason = describe_invalid(validation_error({**BASE, "causes": [{"error_type": "A"}, {"message": "x"}]}))
    assert reason == "invalid event: causes.1.error_type: Field required"


def test_triage_rejection_lists_at_most_five(rejected):
    raw = {"error_type": 1, "message": 2, "service": 3, "http_status": "x", "code": 4, "traceback": 5, "context": 6}
    assert rejected(raw).reason.endswith("; and 2 more")
