"""Times as the CLI shows them: now, stored times in UTC, and 'in 12s' / '3m ago'."""

from __future__ import annotations

from datetime import UTC, datetime

from workers.storage.repository import utc, when

__all__ = ["now_utc", "relative", "when"]


def now_utc() -> datetime:
    return datetime.now(UTC)


def relative(moment: datetime | None, now: datetime) -> str | None:
    """'in 12s', '3m ago', 'now': for times people compare with the present."""
    if moment is None:
        return None
    seconds = (utc(moment) - now).total_seconds()
    size = abs(seconds)
    if size < 1:
        return "now"
    if size < 120:
        text = f"{size:.0f}s"
    elif size < 7200:
        text = f"{size / 60:.0f}m"
    elif size < 172_800:
        text = f"{size / 3600:.0f}h"
    else:
        text = f"{size / 86400:.0f}d"
    return f"in {text}" if seconds > 0 else f"{text} ago"
