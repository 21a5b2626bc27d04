"""Which dead letters a bulk operation takes: the filter, and whether each one is replayed or retargeted (pure).

A filter's fields combine with AND; its time range is on when the execution died (finished_at):
`died_after` included, `died_before` excluded. A dead letter replayed before (an audit `replayed`
entry) is skipped by a bulk replay unless asked again, so running the same command twice does not
replay anything twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from workers.clock import as_utc
from workers.recovery.states import DEAD

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def moment_of(text: str, *, now: datetime) -> datetime:
    """'30m', '2h', '7d' before `now`, or an ISO-8601 time (naive: UTC); ValueError naming the forms otherwise."""
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        return now - timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r}: use a duration like 30m, 2h, 7d (that long ago) or an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DeadFilter:
    service: str | None = None
    category: str | None = None
    group_id: int | None = None
    died_after: datetime | None = None  # included
    died_before: datetime | None = None  # excluded

    def is_empty(self) -> bool:
        return all(value is None for value in (self.service, self.category, self.group_id, self.died_after,
                                               self.died_before))

    def problem(self) -> str | None:
        """Why this filter cannot select anything on purpose, or None."""
        if self.is_empty():
            return ("give at least one filter (service, category, group, since, until): a bulk replay never "
                    "takes every dead letter by accident (since 1000d takes all those of the last 1000 days)")
        if self.died_after and self.died_before and as_utc(self.died_after) >= as_utc(self.died_before):
            return (f"the time range is empty: since {self.died_after.isoformat()} is not before "
                    f"until {self.died_before.isoformat()}")
        return None

    def as_dict(self) -> dict[str, Any]:
        """The filter's given fields, JSON-ready (for output and audit rows)."""
        fields = {"service": self.service, "category": self.category, "group_id": self.group_id,
                  "died_after": self.died_after.isoformat() if self.died_after else None,
                  "died_before": self.died_before.isoformat() if self.died_before else None}
        return {name: value for name, value in fields.items() if value is not None}

    def describe(self) -> str:
        """The filter in a few words: `service orders, died since 2026-03-01 10:00:00 UTC`."""
        words = [f"{name} {value}" for name, value in (("service", self.service), ("category", self.category),
                                                       ("group", self.group_id)) if value is not None]
        words += [f"died {when} {as_utc(moment):%Y-%m-%d %H:%M:%S} UTC"
                  for when, moment in (("since", self.died_after), ("before", self.died_before)) if moment is not None]
        return ", ".join(words) or "no filter"


@dataclass(frozen=True)
class DeadLetter:
    """What a decision needs to know of one execution (a dead letter when it was found)."""

    id: int
    state: str
    service: str
    category: str
    group_id: int
    occurrence_id: int
    finished_at: datetime | None
    replayed_as: tuple[int, ...] = ()  # the executions it was replayed as (its audit `replayed` entries)


def matches(letter: DeadLetter, selection: DeadFilter) -> bool:
    """Whether the dead letter is one the filter selects (its state aside)."""
    if selection.service is not None and letter.service != selection.service:
        return False
    if selection.category is not None and letter.category != selection.category:
        return False
    if selection.group_id is not None and letter.group_id != selection.group_id:
        return False
    if selection.died_after is None and selection.died_before is None:
        return True
    if letter.finished_at is None:
        return False
    died = as_utc(letter.finished_at)
    if selection.died_after is not None and died < as_utc(selection.died_after):
        return False
    return selection.died_before is None or died < as_utc(selection.died_before)


def replay_skip_reason(letter: DeadLetter, *, again: bool) -> str | None:
    """Why a bulk replay leaves this dead letter alone, or None to replay it."""
    if letter.state != DEAD:
        return f"no longer dead (now {letter.state})"
    if letter.replayed_as and not again:
        shown = ", ".join(str(i) for i in letter.replayed_as)
        return f"already replayed as execution {shown} (--again replays it once more)"
    return None


def retarget_skip_reason(letter: DeadLetter, unfinished: tuple[int, ...]) -> str | None:
    """Why a retarget leaves this dead letter alone, or None. `unfinished`: the executions of its
    occurrence still going, which read the stored event at each attempt: a changed target would
    change them mid-way."""
    if letter.state != DEAD:
        return f"no longer dead (now {letter.state})"
    if unfinished:
        return (f"its occurrence {letter.occurrence_id} has execution {', '.join(str(i) for i in unfinished)} "
                "still going, which would call the new target mid-way; cancel it or let it finish first")
    return None


@dataclass(frozen=True)
class Choice:
    """What a bulk replay does with the dead letters it found."""

    to_replay: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...]  # (dead letter, why)
    over_limit: int  # left for a later run by the limit


def choose_for_replay(letters: list[DeadLetter], *, again: bool, limit: int | None = None) -> Choice:
    """The dead letters to replay, in the order given, the first `limit` of those not skipped."""
    to_replay: list[int] = []
    skipped: list[tuple[int, str]] = []
    for letter in letters:
        reason = replay_skip_reason(letter, again=again)
        if reason is not None:
            skipped.append((letter.id, reason))
        else:
            to_replay.append(letter.id)
    kept = to_replay if limit is None else to_replay[:limit]
    return Choice(tuple(kept), tuple(skipped), len(to_replay) - len(kept))
