"""A notification and its renderings: plain text (email, logs), generic JSON, Slack blocks.

Every rendering is masked with workers.masking, so a secret that reached a message's
subject or fields never leaves medic in clear. Formatting is pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from config.channels import LEVELS, Level
from workers.masking import mask_text, mask_value

SOURCE = "medic"
SLACK_HEADER_MAX_CHARS = 150  # Slack rejects a longer header block
SLACK_TEXT_MAX_CHARS = 3000  # section text, and the `text` fallback kept to the same size
SLACK_FIELD_MAX_CHARS = 2000  # one item of a section's `fields`
SLACK_FIELDS_PER_SECTION = 10  # Slack's maximum
SLACK_MAX_BLOCKS = 50  # Slack's maximum per message
ELLIPSIS = "…"

LEVEL_EMOJI = {"info": ":information_source:", "warning": ":warning:", "error": ":x:", "critical": ":rotating_light:"}


@dataclass(frozen=True)
class Message:
    """One notification: what happened (subject, ordered key facts) and how loud it is."""

    subject: str
    level: Level
    kind: str  # notify | escalate | breaker | ...
    fields: dict[str, Any] = field(default_factory=dict)
    group_id: int | None = None
    execution_id: int | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {self.level!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe, masked copy for storage; `from_dict` reads it back."""
        return {
            "subject": mask_text(self.subject),
            "level": self.level,
            "kind": self.kind,
            "fields": masked_fields(self),
            "group_id": self.group_id,
            "execution_id": self.execution_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """Read what `to_dict` wrote; unknown keys are ignored (a newer writer may add some)."""
        return cls(
            subject=data["subject"],
            level=data["level"],
            kind=data["kind"],
            fields=dict(data.get("fields") or {}),
            group_id=data.get("group_id"),
            execution_id=data.get("execution_id"),
        )


# ----------------------------------------------------------------------------- values


def json_safe(value: Any) -> Any:
    """JSON-like data only: dates become ISO strings, tuples and sets lists, the rest `str`."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN is not JSON (PostgreSQL refuses it)
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    return str(value)


def masked_fields(message: Message) -> dict[str, Any]:
    """The fields, JSON-safe and masked, in their order."""
    return mask_value(json_safe(message.fields))


def subject_line(message: Message) -> str:
    """The masked subject on one line (a header may not hold line breaks)."""
    return " ".join(mask_text(message.subject).split())


def render_value(value: Any) -> str:
    """A field value as text: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def truncate(text: str, max_chars: int) -> str:
    """At most max_chars characters; a cut text ends with an ellipsis."""
    return text if len(text) <= max_chars else text[: max_chars - len(ELLIPSIS)] + ELLIPSIS


# ----------------------------------------------------------------------------- renderings


def as_text(message: Message) -> str:
    """The subject line, then one `key: value` line per field (continuation lines indented)."""
    lines = [subject_line(message)]
    for key, value in masked_fields(message).items():
        lines.append(f"{key}: " + render_value(value).replace("\n", "\n  "))
    return "\n".join(lines)


def as_json(message: Message) -> dict[str, Any]:
    """The generic webhook body."""
    return {
        "source": SOURCE,
        "subject": mask_text(message.subject),
        "level": message.level,
        "kind": message.kind,
        "group_id": message.group_id,
        "execution_id": message.execution_id,
        "fields": masked_fields(message),
    }


def as_slack(message: Message) -> dict[str, Any]:
    """A Slack incoming-webhook payload: blocks for Slack, a `text` that stands alone elsewhere.

    Mattermost and Rocket.Chat show only `text`, so it carries the facts too.
    """
    fields = masked_fields(message)
    return {"text": _slack_text(message, fields), "blocks": _slack_blocks(message, fields)}


def _slack_text(message: Message, fields: dict[str, Any]) -> str:
    lines = [f"{LEVEL_EMOJI[message.level]} *[{message.level.upper()}]* {_mrkdwn(subject_line(message))}"]
    lines += [f"*{_mrkdwn(key)}:* {_mrkdwn(render_value(value))}" for key, value in fields.items()]
    return _truncate_mrkdwn("\n".join(lines), SLACK_TEXT_MAX_CHARS)


def _slack_blocks(message: Message, fields: dict[str, Any]) -> list[dict[str, Any]]:
    header = f"[{message.level.upper()}] {subject_line(message)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(header, SLACK_HEADER_MAX_CHARS)}}
    ]
    items = [_slack_field(key, value) for key, value in fields.items()]
    for start in range(0, len(items), SLACK_FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": items[start:start + SLACK_FIELDS_PER_SECTION]})
    return blocks[:SLACK_MAX_BLOCKS]


def _slack_field(key: str, value: Any) -> dict[str, str]:
    text = f"*{_mrkdwn(key)}*\n{_mrkdwn(render_value(value))}"
    return {"type": "mrkdwn", "text": _truncate_mrkdwn(text, SLACK_FIELD_MAX_CHARS)}


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves for links and mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_CUT_ENTITY = re.compile(r"&[a-z]{0,3}$")


def _truncate_mrkdwn(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    # A cut through "&amp;" would leave a stray "&am".
    return _CUT_ENTITY.sub("", text[: max_chars - len(ELLIPSIS)]) + ELLIPSIS
