"""Retry-After (RFC 9110 §10.2.3): how long a peer asked us to wait, as seconds."""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import parsedate_to_datetime

from workers.clock import as_utc

# A peer asking for more than a day is misconfigured; the caller's own limits apply beyond that.
MAX_RETRY_AFTER_S = 86_400.0

_DELTA_SECONDS = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).

    A time in the past or a negative delay means 0; anything unparsable means None;
    more than MAX_RETRY_AFTER_S is capped.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    delay_s = float(text) if _DELTA_SECONDS.fullmatch(text) else _seconds_until(text, now=now)
    if delay_s is None:
        return None
    return min(max(delay_s, 0.0), MAX_RETRY_AFTER_S)


def _seconds_until(http_date: str, *, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # A naive result is GMT: an HTTP-date always is.
    return (as_utc(when) - as_utc(now)).total_seconds()
