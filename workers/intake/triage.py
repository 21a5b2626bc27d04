"""Intake, free of Celery and of the database: a raw payload in, a decision out.

`triage` validates a payload against the contract, caps and masks it, classifies and
fingerprints it, and returns what to store: an `Accepted` event or a `Rejected` payload.
It never raises on bad input.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from config.settings import Settings
from workers.classification import Classification, Classifier
from workers.intake.contract import Cause, ErrorEvent
from workers.intake.fingerprint import fingerprint, normalise_message
from workers.masking import mask_model, mask_text, mask_value

TRUNCATION_MARK = "…[truncated {dropped} chars]"
# Masking costs time in proportion to a text's length, so a text past its cap is cut before it is
# masked, and capped after. The cut leaves this margin past the cap: a secret across the cap must be
# whole when masked, a cut one would no longer look like one.
MASKING_MARGIN_CHARS = 4_096
# How many validation problems a rejection reason lists before summarising the rest.
_MAX_REASONS = 5


@dataclass(frozen=True)
class Limits:
    max_message_chars: int
    max_traceback_chars: int
    max_context_bytes: int
    max_event_bytes: int
    max_nesting_depth: int
    rejected_payload_max_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Accepted:
    event: dict[str, Any]  # masked and capped, JSON-ready: what is stored
    classification: Classification
    fingerprint: str
    message_template: str
    occurred_at: datetime
    idempotency_key: str | None


@dataclass(frozen=True)
class Rejected:
    reason: str
    payload: str  # masked, capped text of what arrived
    payload_bytes: int


def triage(raw: Any, *, limits: Limits, classifier: Classifier, received_at: datetime) -> Accepted | Rejected:
    reason = _shape_problem(raw, limits)
    if reason is None:
        try:
            event = ErrorEvent.model_validate(raw)
        except ValidationError as exc:
            reason = describe_invalid(exc)
        else:
            reason = _context_problem(event, limits)
    if reason is not None:
        return reject(raw, reason, limits)
    return _accept(event, limits, classifier, received_at)


def reject(raw: Any, reason: str, limits: Limits) -> Rejected:
    """A rejection that keeps a masked, size-capped copy of what arrived."""
    text = raw if isinstance(raw, str) else _to_json(mask_value(raw))
    masked = mask_text(text[: limits.rejected_payload_max_bytes + MASKING_MARGIN_CHARS])  # chars: bytes or fewer
    encoded = masked.encode("utf-8", "replace")
    kept = encoded[: limits.rejected_payload_max_bytes].decode("utf-8", "ignore")
    size = len(text.encode("utf-8", "replace"))
    return Rejected(reason=reason, payload=kept, payload_bytes=size)


def describe_invalid(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:_MAX_REASONS]:
        field = ".".join(str(part) for part in error["loc"]) or "event"
        problems.append(f"{field}: {error['msg']}")
    more = exc.error_count() - _MAX_REASONS
    return "invalid event: " + "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def _shape_problem(raw: Any, limits: Limits) -> str | None:
    if not isinstance(raw, dict):
        return f"invalid event: expected a JSON object, got {_json_type(raw)}"
    depth = _nesting_depth(raw, limits.max_nesting_depth + 1)
    if depth > limits.max_nesting_depth:
        return f"invalid event: nested deeper than {limits.max_nesting_depth} levels (MEDIC_MAX_NESTING_DEPTH)"
    size = len(_to_json(raw).encode("utf-8", "replace"))
    if size > limits.max_event_bytes:
        return f"invalid event: {size} bytes, over the {limits.max_event_bytes}-byte limit (MEDIC_MAX_EVENT_BYTES)"
    return None


def _context_problem(event: ErrorEvent, limits: Limits) -> str | None:
    size = len(_to_json(event.context).encode("utf-8", "replace"))
    if size > limits.max_context_bytes:
        return (f"invalid event: context is {size} bytes, "
                f"over the {limits.max_context_bytes}-byte limit (MEDIC_MAX_CONTEXT_BYTES)")
    return None


def _accept(event: ErrorEvent, limits: Limits, classifier: Classifier, received_at: datetime) -> Accepted:
    safe = _masked_and_capped(event, limits)
    occurred_at = safe.occurred_at or received_at
    stored = safe.model_dump(mode="json", exclude_none=True)
    stored["occurred_at"] = occurred_at.isoformat()
    return Accepted(
        event=stored,
        classification=classifier.classify(safe),
        fingerprint=fingerprint(safe.error_type, safe.message, safe.service, safe.operation),
        message_template=normalise_message(safe.message),
        occurred_at=occurred_at,
        idempotency_key=safe.idempotency_key,
    )


def _masked_and_capped(event: ErrorEvent, limits: Limits) -> ErrorEvent:
    """Every field masked (mask_model: nothing is left out by name), long texts capped."""
    return _with_texts(mask_model(_with_texts(event, event, limits, _cut)), event, limits, _capped)


def _with_texts(event: ErrorEvent, received: ErrorEvent, limits: Limits,
                change: Callable[[str, str, int], str]) -> ErrorEvent:
    """The event with change(text, the text as received, its cap) applied to each capped text
    (the event itself when none changes: copies cost more than the masking of most events)."""
    message_cap = limits.max_message_chars
    update: dict[str, Any] = {
        "message": change(event.message, received.message, message_cap),
        "causes": [_with_message(cause, change(cause.message, sent.message, message_cap))
                   for cause, sent in zip(event.causes, received.causes, strict=True)],
    }
    if event.traceback is not None and received.traceback is not None:
        update["traceback"] = change(event.traceback, received.traceback, limits.max_traceback_chars)
    texts_unchanged = all(update[name] is getattr(event, name) for name in ("message", "traceback") if name in update)
    if texts_unchanged and all(map(operator.is_, update["causes"], event.causes)):
        return event
    return event.model_copy(update=update)


def _with_message(cause: Cause, message: str) -> Cause:
    return cause if message is cause.message else cause.model_copy(update={"message": message})


def _cut(text: str, _received: str, cap: int) -> str:
    return text[: cap + MASKING_MARGIN_CHARS]  # the text itself when it is shorter


def _capped(masked: str, received: str, cap: int) -> str:
    return _cap(masked, cap, cut_before=max(0, len(received) - cap - MASKING_MARGIN_CHARS))


def _cap(value: str, limit_chars: int, *, cut_before: int = 0) -> str:
    """value within limit_chars, and a mark counting what was dropped, here and cut_before."""
    if len(value) <= limit_chars and not cut_before:
        return value
    mark = TRUNCATION_MARK.format(dropped=max(0, len(value) - limit_chars) + cut_before)
    return value[:limit_chars] + mark


def _nesting_depth(value: Any, stop_at: int) -> int:
    """Depth of nested objects/lists, counted without recursion, giving up past stop_at."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest >= stop_at:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def _json_type(value: Any) -> str:
    names = {str: "a string", list: "an array", int: "a number", float: "a number", bool: "a boolean",
             type(None): "null"}
    return names.get(type(value), type(value).__name__)
