"""The names rotated log files get: `<log name>.<UTC time>[-<n>]`, then `.gz`, and `.gz.tmp` while compressing.

`app.log.20261129T201500Z`, a second rotation in the same second `app.log.20261129T201500Z-1`.
Order is by (time, counter), never by the name's text: `...Z-1.gz` sorts before `...Z.gz` as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
PLAIN, GZ, TMP = "", ".gz", ".gz.tmp"
_ROTATED = re.compile(r"^(?P<base>.+)\.(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<counter>[1-9][0-9]*))?"
                      r"(?P<suffix>|\.gz|\.gz\.tmp)$")


@dataclass(frozen=True, order=True)
class RotatedName:
    """One rotation of a log file; its files are `stem`, `stem.gz` and `stem.gz.tmp`."""

    rotated_at: datetime
    counter: int
    base: str

    @property
    def stem(self) -> str:
        counter = f"-{self.counter}" if self.counter else ""
        return f"{self.base}.{self.rotated_at.strftime(STAMP_FORMAT)}{counter}"


def parse(name: str) -> tuple[RotatedName, str] | None:
    """(the rotation, the suffix: PLAIN, GZ or TMP) of a rotated file's name; None for any other name."""
    match = _ROTATED.match(name)
    if match is None:
        return None
    try:
        rotated_at = datetime.strptime(match["stamp"], STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:  # the right shape but no real time (month 13)
        return None
    return RotatedName(rotated_at, int(match["counter"] or 0), match["base"]), match["suffix"]


def next_rotation(base: str, now: datetime, existing: list[RotatedName]) -> RotatedName:
    """A new rotation of `base` that sorts after every existing one, even if the clock went back."""
    at = now.astimezone(UTC).replace(microsecond=0)
    latest = max((r for r in existing if r.base == base), default=None)
    if latest is None or latest.rotated_at < at:
        return RotatedName(at, 0, base)
    return RotatedName(latest.rotated_at, latest.counter + 1, base)
