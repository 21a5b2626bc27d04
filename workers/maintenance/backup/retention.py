"""Which registered archives to keep: pure, the decisions of the retention policy.

Keep the newest `keep_last` archives whatever their verification; plus the newest verified-ok
archive of each of the newest `keep_daily` days, `keep_weekly` ISO weeks and `keep_monthly`
months that have one (UTC; periods without a good archive do not count, as in borg and restic);
plus, always, the newest verified-ok archive. A failed archive is not a backup: it never keeps
a period's place.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime

from workers.clock import as_utc


@dataclass(frozen=True)
class Candidate:
    name: str
    created_at: datetime
    good: bool  # verified ok


@dataclass(frozen=True)
class Policy:
    keep_last: int
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0


@dataclass(frozen=True)
class Decision:
    keep: dict[str, tuple[str, ...]]  # name -> why it is kept
    delete: tuple[str, ...]  # newest first


def _day(moment: datetime) -> Hashable:
    return moment.date()


def _week(moment: datetime) -> Hashable:
    return moment.isocalendar()[:2]


def _month(moment: datetime) -> Hashable:
    return moment.year, moment.month


def decide(candidates: Iterable[Candidate], policy: Policy) -> Decision:
    newest_first = sorted(candidates, key=lambda c: (as_utc(c.created_at), c.name), reverse=True)
    good = [c for c in newest_first if c.good]
    reasons: dict[str, list[str]] = {}
    for c in newest_first[:policy.keep_last]:
        reasons.setdefault(c.name, []).append("last")
    for c in good[:1]:
        reasons.setdefault(c.name, []).append("newest good")
    for label, count, period in (("daily", policy.keep_daily, _day), ("weekly", policy.keep_weekly, _week),
                                 ("monthly", policy.keep_monthly, _month)):
        for c in _newest_of_each(good, period)[:count]:
            reasons.setdefault(c.name, []).append(label)
    return Decision(keep={name: tuple(why) for name, why in reasons.items()},
                    delete=tuple(c.name for c in newest_first if c.name not in reasons))


def _newest_of_each(newest_first: list[Candidate], period: Callable[[datetime], Hashable]) -> list[Candidate]:
    seen: set[Hashable] = set()
    chosen = []
    for c in newest_first:
        key = period(as_utc(c.created_at))
        if key not in seen:
            seen.add(key)
            chosen.append(c)
    return chosen
