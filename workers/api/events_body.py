"""The body of POST /api/events read into raw events (pure): one event object, or an array of them.

Only the shape of the request is judged here; each event is judged by the intake (triage), so an
array item that is not a valid event becomes a kept rejection, not a refused request.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import status

JSON_MEDIA_TYPE = "application/json"
SHAPE = "send one event object or a JSON array of event objects"


class BodyProblem(Exception):
    def __init__(self, status_code: int, detail: str):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None) -> None:
    if media_type(content_type) != JSON_MEDIA_TYPE:
        shown = media_type(content_type) or "none"
        raise BodyProblem(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                          f"Content-Type {shown} is not accepted: send {JSON_MEDIA_TYPE}")


def raw_events(body: bytes, *, max_events: int) -> list[Any]:
    """The events a body carries, in order; BodyProblem (400, 413) naming what is wrong with it."""
    if not body.strip():
        raise BodyProblem(status.HTTP_400_BAD_REQUEST, f"the body is empty: {SHAPE}")
    parsed = _parsed(body)
    if isinstance(parsed, dict):
        return [parsed]
    if not isinstance(parsed, list):
        raise BodyProblem(status.HTTP_400_BAD_REQUEST, f"the body is {_json_type(parsed)}: {SHAPE}")
    if not parsed:
        raise BodyProblem(status.HTTP_400_BAD_REQUEST, f"the body is an empty array: {SHAPE}")
    if len(parsed) > max_events:
        raise BodyProblem(status.HTTP_413_CONTENT_TOO_LARGE,
                          f"{len(parsed)} events in one request, over the cap of {max_events} "
                          f"(MEDIC_SERVE__INGEST_MAX_EVENTS): send them in several requests")
    return parsed


def _parsed(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyProblem(status.HTTP_400_BAD_REQUEST, f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BodyProblem(status.HTTP_400_BAD_REQUEST,
                          f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BodyProblem(status.HTTP_400_BAD_REQUEST, "the body is not JSON medic reads: nested too deeply") from None
    except _NotJsonNumber as exc:
        raise BodyProblem(status.HTTP_400_BAD_REQUEST, f"the body is not JSON: {exc}") from None
    except ValueError:  # Python's cap on integer digits (int_max_str_digits)
        raise BodyProblem(status.HTTP_400_BAD_REQUEST, "the body is not JSON medic reads: a number has "
                                                       "too many digits") from None


class _NotJsonNumber(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJsonNumber(f"{name} is not a JSON number")


def _json_type(value: Any) -> str:
    names = {str: "a string", int: "a number", float: "a number", bool: "a boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)
