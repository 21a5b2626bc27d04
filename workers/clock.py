"""The one default clock, UTC normalisation of any datetime, and times relative to now ("3m ago")."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, aware, in UTC: what every `clock=` parameter falls back to (tests pass their own)."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """The same moment, aware, in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def relative(moment: datetime | None, now: datetime, *, units: tuple[str, str, str, str] = ("s", "m", "h", "d"),
             present: str = "now") -> str | None:
    """'in 12s', '3m ago', 'now': for times people compare with the present (naive ones taken as UTC).

    `units` spell seconds, minutes, hours and days (the console: " s", " min", " h", " d")."""
    if moment is None:
        return None
    seconds = (as_utc(moment) - as_utc(now)).total_seconds()
    size = abs(seconds)
    if size < 1:
        return present
    second, minute, hour, day = units
    if size < 120:
        text = f"{size:.0f}{second}"
    elif size < 7200:
        text = f"{size / 60:.0f}{minute}"
    elif size < 172_800:
        text = f"{size / 3600:.0f}{hour}"
    else:
        text = f"{size / 86400:.0f}{day}"
    return f"in {text}" if seconds > 0 else f"{text} ago"
