"""What the pages share: paging, query times, the form's `back` and `reason` fields, page URLs with their filters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Query, Request, status
from starlette.datastructures import FormData

from workers.clock import utcnow
from workers.console.web import ConsoleRefusal, safe_next
from workers.recovery.dead_filters import moment_of

PAGE_ROWS = 50
REASON_MAX_CHARS = 2000
MAX_OFFSET = 1_000_000
OFFSET = Query(0, ge=0, le=MAX_OFFSET, description="Rows to skip.")
TIME_QUERY_CHARS = 64


def next_offset(rows: list[Any], offset: int, limit: int | None = None) -> int | None:
    """The next page's offset when this one is full (there may be more), else None."""
    size = PAGE_ROWS if limit is None else limit
    return offset + size if len(rows) >= size else None


def moment(name: str, value: str | None) -> datetime | None:
    """A filter's time ('30m', '2h', '7d' ago, or ISO-8601); a 422 page naming the field otherwise."""
    if not value or not value.strip():
        return None
    try:
        return moment_of(value[:TIME_QUERY_CHARS], now=utcnow())
    except ValueError as exc:
        raise ConsoleRefusal(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: {exc}") from None


def url(path: str, params: Mapping[str, Any]) -> str:
    """`path` with the given parameters (empty ones left out; lists repeated)."""
    pairs = [(key, item) for key, value in params.items()
             for item in (value if isinstance(value, (list, tuple)) else [value]) if item not in (None, "")]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def back(form: FormData, default: str) -> str:
    """Where to go after an action: the form's `back` path on this console, else `default`."""
    value = form.get("back")
    return safe_next(value) if isinstance(value, str) and value else default


def reason(form: FormData) -> str | None:
    value = form.get("reason")
    text = value.strip()[:REASON_MAX_CHARS] if isinstance(value, str) else ""
    return text or None


def pretty_json(value: Any) -> str:
    """A stored event as indented JSON text (escaped by the template like any text: <script> shows as typed)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def field(form: FormData, name: str, max_chars: int = 256) -> str | None:
    value = form.get(name)
    text = value.strip()[:max_chars] if isinstance(value, str) else ""
    return text or None
