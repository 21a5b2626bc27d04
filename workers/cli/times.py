"""Times as the CLI shows them: 'in 12s' / '3m ago'."""

from __future__ import annotations

from datetime import datetime

from workers.clock import as_utc


def relative(moment: datetime | None, now: datetime) -> str | None:
    """'in 12s', '3m ago', 'now': for times people compare with the present (naive ones taken as UTC)."""
    if moment is None:
        return None
    seconds = (as_utc(moment) - now).total_seconds()
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
