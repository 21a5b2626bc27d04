"""Unit tests for workers.notify: renderings, masking, the level filter, the Message round trip."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest

from config.channels import LEVELS, EmailChannel, LogChannel, SlackChannel, WebhookChannel
from workers.notify import DeliveryFailed, Message, as_json, as_slack, as_text, deliver, level_passes
from workers.notify.channels import email_message
from workers.notify.message import (
    SLACK_FIELD_MAX_CHARS,
    SLACK_FIELDS_PER_SECTION,
    SLACK_HEADER_MAX_CHARS,
    SLACK_MAX_BLOCKS,
    SLACK_TEXT_MAX_CHARS,
)
from workers.retry_after import parse_retry_after

FIELDS = {
    "group": 12,
    "service": "github",
    "category": "network",
    "error_type": "httpx.ConnectError",
    "message": "[Errno 111] Connection refused",
    "execution": 34,
    "attempts": 5,
    "state": "escalated",
}
SECRET_FIELDS = {
    "service": "payments",
    "message": "POST https://svc:Sup3rS3cret@api.example.com/charge failed",
    "context": {"password": "hunter2", "user": "bob"},
    "api_key": "k-123456789",
}


def msg(level: str = "error", fields: dict | None = None, subject: str = "Group 12 needs a human", **kw) -> Message:
    return Message(subject, level, "escalate", dict(FIELDS if fields is None else fields), **kw)


def renderings(message: Message) -> list[str]:
    dicts = [as_json(message), as_slack(message), message.to_dict()]
    return [as_text(message), *(json.dumps(data) for data in dicts)]


# --------------------------------------------------------------------------- text


def test_text_is_subject_then_fields_in_order():
    lines = as_text(msg()).splitlines()
    assert lines[0] == "Group 12 needs a human"
    assert [line.split(":", 1)[0] for line in lines[1:]] == list(FIELDS)
    assert "message: [Errno 111] Connection refused" in lines and "attempts: 5" in lines


def test_text_indents_continuation_lines_and_renders_non_strings_as_json():
    text = as_text(msg(fields={"traceback": "line one\nline two", "detail": {"a": [1, None]}, "ok": True}))
    assert "traceback: line one\n  line two" in text
    assert 'detail: {"a": [1, null]}' in text and "ok: true" in text


def test_subject_is_one_line():
    assert as_text(msg(subject="two\r\nlines")).splitlines()[0] == "two lines"


# --------------------------------------------------------------------------- json


def test_json_body():
    body = as_json(msg(group_id=12, execution_id=34))
    assert body == {"source": "medic", "subject": "Group 12 needs a human", "level": "error", "kind": "escalate",
                    "group_id": 12, "execution_id": 34, "fields": FIELDS}
    assert list(body["fields"]) == list(FIELDS)


def test_json_body_is_json_safe():
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    body = as_json(msg(fields={"at": at, "ids": (1, 2), "ratio": float("nan"), "obj": object()}))
    json.dumps(body, allow_nan=False)
    assert body["fields"]["at"] == "2024-05-01T12:00:00+00:00" and body["fields"]["ids"] == [1, 2]


# --------------------------------------------------------------------------- masking


def test_no_rendering_leaks_secrets():
    message = msg(fields=SECRET_FIELDS, subject="login failed: password=hunter2")
    for rendered in renderings(message):
        assert "hunter2" not in rendered and "Sup3rS3cret" not in rendered and "k-123456789" not in rendered
        assert "payments" in rendered and "bob" in rendered and "api.example.com" in rendered


def test_masking_keeps_structure():
    fields = as_json(msg(fields=SECRET_FIELDS))["fields"]
    assert fields["context"] == {"password": "***", "user": "bob"}
    assert fields["api_key"] == "***"
    assert fields["message"] == "POST https://svc:***@api.example.com/charge failed"


def test_masking_does_not_touch_the_message():
    message = msg(fields=SECRET_FIELDS)
    as_text(message), as_json(message), as_slack(message)
    assert message.fields["context"]["password"] == "hunter2"


# --------------------------------------------------------------------------- slack


@pytest.mark.parametrize(("level", "emoji"), [("info", ":information_source:"), ("warning", ":warning:"),
                                              ("error", ":x:"), ("critical", ":rotating_light:")])
def test_slack_text_starts_with_level(level, emoji):
    assert as_slack(msg(level))["text"].startswith(f"{emoji} *[{level.upper()}]* Group 12 needs a human")


def test_slack_blocks_header_and_fields():
    payload = as_slack(msg())
    header, section = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "[ERROR] Group 12 needs a human"}}
    assert section["type"] == "section"
    assert section["fields"][0] == {"type": "mrkdwn", "text": "*group*\n12"}
    assert [item["text"].split("\n")[0] for item in section["fields"]] == [f"*{key}*" for key in FIELDS]


def test_slack_text_carries_the_facts_for_text_only_clients():
    text = as_slack(msg())["text"]
    assert "*service:* github" in text and "*attempts:* 5" in text


def test_slack_truncates_to_its_limits():
    payload = as_slack(msg(subject="s" * 500, fields={"message": "m" * 5000, "traceback": "t" * 5000}))
    header = payload["blocks"][0]["text"]["text"]
    assert len(header) == SLACK_HEADER_MAX_CHARS and header.endswith("…")
    assert len(payload["text"]) == SLACK_TEXT_MAX_CHARS and payload["text"].endswith("…")
    assert all(len(item["text"]) <= SLACK_FIELD_MAX_CHARS for item in payload["blocks"][1]["fields"])


def test_slack_splits_many_fields_into_sections():
    payload = as_slack(msg(fields={f"k{n}": n for n in range(23)}))
    assert [len(block["fields"]) for block in payload["blocks"][1:]] == [SLACK_FIELDS_PER_SECTION] * 2 + [3]
    assert len(as_slack(msg(fields={f"k{n}": n for n in range(1000)}))["blocks"]) == SLACK_MAX_BLOCKS


def test_slack_escapes_mrkdwn_control_characters():
    payload = as_slack(msg(fields={"message": "<!channel> a & b > c"}))
    assert "&lt;!channel&gt; a &amp; b &gt; c" in payload["text"]
    assert payload["blocks"][1]["fields"][0]["text"] == "*message*\n&lt;!channel&gt; a &amp; b &gt; c"


def test_slack_truncation_never_cuts_an_escape():
    payload = as_slack(msg(fields={"message": "&" * 3000}))
    item = payload["blocks"][1]["fields"][0]["text"]
    assert item.endswith("&amp;…") and len(item) <= SLACK_FIELD_MAX_CHARS


# --------------------------------------------------------------------------- level filter


@pytest.mark.parametrize("min_level", LEVELS)
@pytest.mark.parametrize("level", LEVELS)
def test_level_passes_at_or_above_min_level(min_level, level):
    channel = LogChannel(type="log", min_level=min_level)
    assert level_passes(channel, level) is (LEVELS.index(level) >= LEVELS.index(min_level))


def test_level_passes_default_is_everything():
    assert level_passes(SlackChannel(type="slack", url="https://h/x"), "info")


def test_unknown_levels_are_refused():
    with pytest.raises(ValueError, match="level"):
        level_passes(LogChannel(type="log"), "debug")
    with pytest.raises(ValueError, match="level"):
        msg("fatal")


# --------------------------------------------------------------------------- round trip


def test_round_trip_through_json():
    message = msg("critical", group_id=7, execution_id=9)
    assert Message.from_dict(json.loads(json.dumps(message.to_dict()))) == message


def test_round_trip_keeps_field_order_and_defaults():
    back = Message.from_dict(json.loads(json.dumps(msg().to_dict())))
    assert list(back.fields) == list(FIELDS) and back.group_id is None and back.execution_id is None


def test_to_dict_is_masked_and_json_safe():
    stored = msg(fields={**SECRET_FIELDS, "at": datetime(2024, 1, 1)}).to_dict()
    text = json.dumps(stored, allow_nan=False)
    assert "hunter2" not in text and stored["fields"]["at"] == "2024-01-01T00:00:00"


def test_from_dict_ignores_unknown_keys():
    data = {**msg().to_dict(), "added_later": 1}
    assert Message.from_dict(data) == msg()


# --------------------------------------------------------------------------- log channel


def test_log_channel_writes_one_structured_record(caplog):
    caplog.set_level(logging.INFO, logger="medic.notify")
    deliver("ops-log", LogChannel(type="log"), msg("warning", fields=SECRET_FIELDS, group_id=3))
    [record] = caplog.records
    assert record.name == "medic.notify" and record.levelno == logging.WARNING
    assert record.getMessage() == "Group 12 needs a human"
    assert record.channel == "ops-log" and record.group_id == 3 and record.kind == "escalate"
    # "message" is a LogRecord attribute: the field is renamed rather than crash logging.
    assert record.field_message == "POST https://svc:***@api.example.com/charge failed"
    assert record.context == {"password": "***", "user": "bob"}


@pytest.mark.parametrize(("level", "levelno"), [("info", logging.INFO), ("warning", logging.WARNING),
                                                ("error", logging.ERROR), ("critical", logging.CRITICAL)])
def test_log_channel_level_mapping(caplog, level, levelno):
    caplog.set_level(logging.INFO, logger="medic.notify")
    deliver("log", LogChannel(type="log"), msg(level))
    assert [record.levelno for record in caplog.records] == [levelno]


# --------------------------------------------------------------------------- email message


def test_email_message_headers_and_body():
    channel = EmailChannel(type="email", host="smtp.example.com", from_addr="medic@example.com",
                           to_addrs=["a@example.com", "b@example.com"])
    email = message_from_bytes(email_message(channel, msg("critical", fields=SECRET_FIELDS)).as_bytes(),
                               policy=policy.default)
    assert email["Subject"] == "[medic critical] Group 12 needs a human"
    assert email["From"] == "medic@example.com" and email["To"] == "a@example.com, b@example.com"
    assert email["Message-ID"].endswith("@example.com>") and email["Auto-Submitted"] == "auto-generated"
    body = email.get_content()
    assert body.startswith("Group 12 needs a human\nservice: payments\n") and "hunter2" not in body


# --------------------------------------------------------------------------- errors


def test_delivery_failed_defaults():
    failure = DeliveryFailed("channel 'x': boom")
    assert str(failure) == "channel 'x': boom" and failure.permanent is False and failure.retry_after_s is None


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("", None), ("7", 7.0), ("2.5", 2.5), ("-3", 0.0), ("soon", None), ("inf", None), ("nan", None),
    ("Wed, 01 May 2024 12:00:30 GMT", 30.0), ("Wed, 01 May 2024 11:00:00 GMT", 0.0),
])
def test_parse_retry_after(header, expected):
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == expected


def test_unsendable_webhook_config_is_permanent_and_secret_free():
    channel = WebhookChannel(type="webhook", url="hooks.example.com/T1/very-secret-token",
                             headers={"Authorization": "Bearer tok\nen"})
    with pytest.raises(DeliveryFailed) as caught:
        deliver("hook", channel, msg())
    assert caught.value.permanent and "tok" not in str(caught.value)
    channel = WebhookChannel(type="webhook", url="hooks.example.com/T1/very-secret-token")
    with pytest.raises(DeliveryFailed) as caught:
        deliver("hook", channel, msg())
    assert caught.value.permanent and "very-secret-token" not in str(caught.value) and "'hook'" in str(caught.value)


def test_timedelta_is_rendered_as_text():
    assert as_json(msg(fields={"age": timedelta(seconds=90)}))["fields"]["age"] == "0:01:30"
