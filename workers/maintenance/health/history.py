"""Error rates per category over the past hours, from the stored health snapshots (not the occurrences).

Each snapshot holds the error rate per category over its window; averaging them per hour gives the
console's chart at the cost of reading one small JSON field of ~60 rows per hour through the
taken_at index, however many occurrences there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from workers.clock import as_utc
from workers.storage.models import HealthSnapshot

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class RateHistory:
    starts: list[datetime]  # the start of each hour, oldest first
    per_category: dict[str, list[float | None]]  # errors per minute, averaged over each hour; None: no snapshot

    @property
    def empty(self) -> bool:
        return not self.per_category


def hourly_error_rates(session: Session, *, now: datetime, hours: int = 24) -> RateHistory:
    """Errors per minute per category, averaged per hour over the last `hours` hours (the current one last)."""
    first = _hour_of(now) - (hours - 1) * HOUR
    rows = session.execute(select(HealthSnapshot.taken_at, HealthSnapshot.metrics["error_rate_per_min"])
                           .where(HealthSnapshot.taken_at >= first).order_by(HealthSnapshot.taken_at))
    return bucket_rates(((taken_at, rates) for taken_at, rates in rows), first=first, hours=hours)


def bucket_rates(samples: Iterable[tuple[datetime, object]], *, first: datetime, hours: int) -> RateHistory:
    """Average per hour and category (pure). A snapshot without a rate for a category counts it as 0;
    an hour without snapshots is None (not measured, not zero)."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0] * hours)
    snapshots = [0] * hours
    for taken_at, rates in samples:
        index = int((as_utc(taken_at) - first) // HOUR)
        if not 0 <= index < hours:
            continue
        snapshots[index] += 1
        for category, rate in (rates if isinstance(rates, dict) else {}).items():
            if isinstance(rate, int | float):
                sums[str(category)][index] += float(rate)
    per_category = {category: [round(total[i] / snapshots[i], 3) if snapshots[i] else None for i in range(hours)]
                    for category, total in sorted(sums.items())}
    return RateHistory([first + i * HOUR for i in range(hours)], per_category)


def _hour_of(moment: datetime) -> datetime:
    return as_utc(moment).replace(minute=0, second=0, microsecond=0)
