"""Which locale a request gets: its `locale` parameter, then its Accept-Language header, then the default.

For each requested tag, best first: the exact locale, then the bare language ("de" for "de-CH"),
then another locale of that language ("de-AT" for "de-CH"). Tags compare case-insensitively and
"_" counts as "-".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_HEADER_CHARS = 1_000  # Accept-Language is untrusted input; a real one is far shorter
MAX_HEADER_TAGS = 20
_TAG = re.compile(r"^(\*|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)$")


def negotiate(available: Iterable[str], default: str, *, locale: str | None = None,
              accept_language: str | None = None) -> str:
    by_tag = {_normal(tag): tag for tag in available}
    if locale and (found := match(locale, by_tag)):
        return found
    for tag in accepted_tags(accept_language):
        if tag == "*":
            return default
        if found := match(tag, by_tag):
            return found
    return default


def match(tag: str, by_tag: dict[str, str]) -> str | None:
    """The available locale for one requested tag; by_tag maps normalised tags to available ones."""
    tag = _normal(tag)
    language = tag.split("-", 1)[0]
    if tag in by_tag:
        return by_tag[tag]
    if language in by_tag:
        return by_tag[language]
    same_language = sorted(known for known in by_tag if known.split("-", 1)[0] == language)
    return by_tag[same_language[0]] if same_language else None


def accepted_tags(header: str | None) -> list[str]:
    """The tags of an Accept-Language header, most preferred first; q=0 and malformed entries dropped."""
    if not header:
        return []
    weighted = []
    for position, entry in enumerate(header[:MAX_HEADER_CHARS].split(",")[:MAX_HEADER_TAGS]):
        tag, *params = (part.strip() for part in entry.split(";"))
        quality = _quality(params)
        if _TAG.match(tag) and quality is not None and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def _quality(params: list[str]) -> float | None:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                return None
            return quality if 0 <= quality <= 1 else None
    return 1.0


def _normal(tag: str) -> str:
    return tag.strip().replace("_", "-").lower()
