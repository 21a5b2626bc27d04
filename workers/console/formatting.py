"""Values as the console shows them (pure; registered as Jinja filters in workers.console.web).

Helpers that build markup (sparkline) emit numbers only, never text they were given: event fields
are attacker-controlled, and what reaches a template through these helpers is either escaped by
Jinja or made of digits here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup

from workers.clock import as_utc, relative

OK, WARN, BAD, NEUTRAL = "ok", "warn", "bad", "neutral"

# State names medic uses (executions, alerts, breakers, health, runs, backups) -> a colour class.
_STATE_CLASSES = {
    OK: ("healthy", "succeeded", "closed", "resolved", "verified", "ok", "done", "replayed", "active", "write"),
    WARN: ("degraded", "half_open", "acknowledged", "pending", "waiting", "scheduled", "running", "retrying",
           "skipped", "stale", "warning", "unverified", "deferred", "open_alert"),
    BAD: ("unhealthy", "critical", "failed", "dead", "open", "forced_open", "error", "corrupt", "cancelled",
          "gave_up", "abandoned", "stuck", "bad", "missing", "never_run"),
}
_CLASS_OF = {state: css for css, states in _STATE_CLASSES.items() for state in states}

SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def state_class(state: str | None) -> str:
    """ok / warn / bad / neutral for a state name (case and spaces ignored); unknown states are neutral."""
    if not state:
        return NEUTRAL
    return _CLASS_OF.get(str(state).strip().lower().replace(" ", "_").replace("-", "_"), NEUTRAL)


def ago(moment: datetime | None, now: datetime) -> str:
    """'just now', '42 s ago', '3 min ago', '5 h ago', '2 d ago'; 'in 3 min' for the future; '-' for none."""
    return relative(moment, now, units=(" s", " min", " h", " d"), present="just now") or "-"


def iso(moment: datetime | None) -> str:
    """The exact time, UTC, to the second: '2026-12-07 17:52:46 UTC' (for title attributes)."""
    if moment is None:
        return ""
    return f"{as_utc(moment):%Y-%m-%d %H:%M:%S} UTC"


def duration(seconds: float | None) -> str:
    """'850 ms', '12.3 s', '4 min 05 s', '2 h 03 min', '3 d 4 h'; '-' for none."""
    if seconds is None:
        return "-"
    seconds = max(0.0, float(seconds))
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def count(value: int | float | None) -> str:
    """Thousands separated: 1,234,567; '-' for none (not measured)."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def size(size_bytes: int | None) -> str:
    """'512 B', '1.5 KiB', '3.2 GiB'; '-' for none."""
    if size_bytes is None:
        return "-"
    amount, unit = float(size_bytes), 0
    while amount >= 1024 and unit < len(SIZE_UNITS) - 1:
        amount, unit = amount / 1024, unit + 1
    return f"{int(size_bytes)} B" if unit == 0 else f"{amount:.1f} {SIZE_UNITS[unit]}"


def sparkline_points(counts: Sequence[float], width: int = 100, height: int = 20) -> str:
    """The `points` of an SVG polyline drawing `counts` left to right, scaled to the box (0 at the bottom)."""
    values = [max(0.0, float(c)) for c in counts]
    if not values:
        return ""
    if len(values) == 1:
        values = values * 2
    top = max(values) or 1.0
    step = width / (len(values) - 1)
    usable = height - 2  # a 1-unit margin so the stroke is not clipped
    return " ".join(f"{i * step:.1f},{height - 1 - v / top * usable:.1f}" for i, v in enumerate(values))


def sparkline(counts: Sequence[float], width: int = 100, height: int = 20, label: str = "") -> Markup:
    """An inline SVG line of `counts`; its markup is numbers only (`label` goes through escaping)."""
    points = sparkline_points(counts, width, height)
    title = Markup.escape(label or f"{len(counts)} points, peak {count(max(counts) if counts else 0)}")
    return Markup(f'<svg class="spark" viewBox="0 0 {int(width)} {int(height)}" width="{int(width)}" '
                  f'height="{int(height)}" role="img" aria-label="{title}"><title>{title}</title>'
                  f'<polyline points="{points}" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>')


def when(moment: datetime | None, now: datetime) -> Markup:
    """<time> saying how long ago, with the exact UTC time as its title and datetime (digits only)."""
    if moment is None:
        return Markup('<span class="muted">-</span>')
    exact = as_utc(moment)
    return Markup(f'<time datetime="{exact.isoformat(timespec="seconds")}" title="{iso(exact)}">'
                  f'{ago(exact, now)}</time>')


def chart_segments(values: Sequence[float | None], top: float, width: int, height: int) -> list[str]:
    """SVG polyline `points` for one series in a width x height box scaled to `top`; a None value (not
    measured) breaks the line, so a gap is never drawn as a zero. Numbers only."""
    if not values:
        return []
    step = width / max(1, len(values) - 1)
    top = top or 1.0
    segments: list[str] = []
    current: list[str] = []
    for i, value in enumerate(values):
        if value is None:
            if current:
                segments.append(" ".join(current))
            current = []
            continue
        y = height - min(max(0.0, float(value)), top) / top * height
        current.append(f"{i * step:.1f},{y:.1f}")
    if current:
        segments.append(" ".join(current))
    # A lone point draws nothing as a polyline: give it a tiny width.
    return [s if " " in s else f"{s} {float(s.split(',')[0]) + 1:.1f},{s.split(',')[1]}" for s in segments]


def nice_top(peak: float) -> float:
    """A round axis maximum at or above `peak`: 1, 2, 5, 10, 20, 50...; 1 for nothing."""
    if peak <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(peak))
    for factor in (1, 2, 5, 10):
        if peak <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)
