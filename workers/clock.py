"""The one default clock, and UTC normalisation of any datetime."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, aware, in UTC: what every `clock=` parameter falls back to (tests pass their own)."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """The same moment, aware, in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
