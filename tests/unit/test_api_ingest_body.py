"""The body of POST /api/events read into raw events, or refused naming why (workers.api.events_body)."""

from __future__ import annotations

import pytest

from workers.api.events_body import BodyProblem, check_content_type, raw_events

EVENT = b'{"error_type": "E", "message": "m", "service": "s"}'


@pytest.mark.parametrize("body, events", [
    (EVENT, [{"error_type": "E", "message": "m", "service": "s"}]),
    (b"[" + EVENT + b", 1, []]", [{"error_type": "E", "message": "m", "service": "s"}, 1, []]),  # items: triage's
    ('[{"message": "caf\u00e9"}]'.encode(), [{"message": "caf\u00e9"}]),
])
def test_an_object_or_an_array_is_read_in_order(body, events):
    assert raw_events(body, max_events=3) == events


@pytest.mark.parametrize("body, code, says", [
    (b"", 400, "empty"),
    (b"  \n", 400, "empty"),
    (b"[]", 400, "empty array"),
    (b'"text"', 400, "a string"),
    (b"42", 400, "a number"),
    (b"null", 400, "null"),
    (b"{", 400, "not JSON"),
    (b'{"a": 1} trailing', 400, "not JSON"),
    (b'{"a": NaN}', 400, "NaN is not a JSON number"),
    (b'[Infinity]', 400, "Infinity"),
    (b"\xff\xfe{}", 400, "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
    (b'{"n": ' + b"9" * 5_000 + b"}", 400, "too many digits"),
    (b"[" + b",".join([EVENT] * 4) + b"]", 413, "MEDIC_SERVE__INGEST_MAX_EVENTS"),
])
def test_what_is_not_one_event_or_an_array_is_refused_naming_why(body, code, says):
    with pytest.raises(BodyProblem) as raised:
        raw_events(body, max_events=3)
    assert raised.value.status_code == code and says in raised.value.detail


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
def test_json_is_the_content_type(content_type):
    check_content_type(content_type)


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "application/x-www-form-urlencoded",
                                          "application/jsonx"])
def test_any_other_content_type_is_415(content_type):
    with pytest.raises(BodyProblem) as raised:
        check_content_type(content_type)
    assert raised.value.status_code == 415 and "application/json" in raised.value.detail
