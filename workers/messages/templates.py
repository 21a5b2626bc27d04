"""Templates: `{name}` placeholders of a fixed set, `{{` and `}}` for literal braces.

Substitution is one pass over the template: a value is inserted as text and never read again,
so a value containing "{secret}" or "{0.__class__}" appears literally. Nothing in a value is
evaluated (no str.format, no attribute or index access, no format specs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_VALUE_CHARS = 300  # a longer value (a message template, a summary) is cut, ending in "…"


def template_problems(template: str, allowed: Iterable[str]) -> list[str]:
    """What is wrong with a template, given the placeholder names it may use; empty when fine."""
    allowed = frozenset(allowed)
    problems = []
    for match in _TOKEN.finditer(template):
        token, name = match[0], match[1]
        if token in ("{{", "}}"):
            continue
        if name is None:
            problems.append(f"unmatched {token!r} at character {match.start() + 1} "
                            f"(write {token * 2} for a literal brace)")
        elif name not in allowed:
            problems.append(f"unknown placeholder {token}; allowed here: {', '.join(sorted(allowed))}")
    return problems


def substitute(template: str, values: Mapping[str, str]) -> str:
    """The template with each `{name}` replaced by values[name] (already text); unknown names stay."""
    def replace(match: re.Match) -> str:
        token, name = match[0], match[1]
        if token in ("{{", "}}"):
            return token[0]
        return values.get(name, token) if name is not None else token
    return _TOKEN.sub(replace, template)


def format_value(value: Any) -> str | None:
    """A field value as plain text; None stays None (the caller knows what to say instead)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _plain_float(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    text = _CONTROL.sub(" ", str(value)).strip()
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _plain_float(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    text = f"{round(value, 3):f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def render(template: str, fields: Mapping[str, Any], missing: Callable[[str], str]) -> str:
    """The template filled from fields; missing(name) says what a None or absent value reads as."""
    values = {}
    for match in _TOKEN.finditer(template):
        name = match[1]
        if name is not None and name not in values:
            text = format_value(fields.get(name))
            values[name] = missing(name) if text is None else text
    return substitute(template, values)
