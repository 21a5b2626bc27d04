"""Reading intake's results back: error groups, their occurrences, rejected events, counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, get_args

from sqlalchemy import Integer, func, or_, select
from sqlalchemy.orm import Session

from workers.classification.taxonomy import Severity
from workers.storage.models import ErrorGroup, Occurrence, RejectedEvent

SEVERITIES: tuple[str, ...] = get_args(Severity)
# The longest search text a group list takes (error type, message template or service contains it).
MAX_SEARCH_CHARS = 200
# Sparklines: hourly buckets over the last day.
SPARK_HOURS = 24


def list_groups(session: Session, *, category: str | None = None, service: str | None = None,
                status: str | None = None, severity: str | None = None, since: datetime | None = None,
                search: str | None = None, limit: int = 50, offset: int = 0) -> list[ErrorGroup]:
    """Error groups, most recently seen first. `search`: case-insensitive text in the error type, the message
    template or the service (LIKE wildcards in it are taken literally). Walks ix_error_groups_last_seen (or a
    filter's index) newest first and stops at `limit` matches: groups are few next to occurrences."""
    query = select(ErrorGroup).order_by(ErrorGroup.last_seen.desc(), ErrorGroup.id.desc()).limit(limit).offset(offset)
    for column, value in ((ErrorGroup.category, category), (ErrorGroup.service, service),
                          (ErrorGroup.status, status), (ErrorGroup.severity, severity)):
        if value:
            query = query.where(column == value)
    if since:
        query = query.where(ErrorGroup.last_seen >= since)
    text = (search or "").strip()
    if text:
        if len(text) > MAX_SEARCH_CHARS:
            raise ValueError(f"search text is {len(text)} characters; at most {MAX_SEARCH_CHARS}")
        query = query.where(or_(*(column.icontains(text, autoescape=True) for column in
                                  (ErrorGroup.error_type, ErrorGroup.message_template, ErrorGroup.service))))
    return list(session.scalars(query))


def hourly_counts(session: Session, group_ids: list[int], *, now: datetime,
                  hours: int = SPARK_HOURS) -> dict[int, list[int]]:
    """Occurrences per hour of each group over the last `hours` (oldest hour first; the last bucket is the hour
    up to `now`), for the sparklines of one page of groups: one query on ix_occurrences_group_received,
    bounded by the ids and the time."""
    if not group_ids:
        return {}
    start = now - timedelta(hours=hours)
    bucket = _hours_since(session, Occurrence.received_at, start).label("bucket")
    rows = session.execute(
        select(Occurrence.group_id, bucket, func.count())
        .where(Occurrence.group_id.in_(group_ids), Occurrence.received_at > start, Occurrence.received_at <= now)
        .group_by(Occurrence.group_id, bucket))
    counts = {group_id: [0] * hours for group_id in group_ids}
    for group_id, hour, count in rows:
        index = min(max(int(hour), 0), hours - 1)
        counts[group_id][index] += int(count)
    return counts


def _hours_since(session: Session, column: Any, start: datetime) -> Any:
    """Whole hours from `start` to the column's time, in SQL (each database has its own epoch function)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.floor(func.extract("epoch", column - start) / 3600)
    # SQLite stores UTC text: julianday counts days.
    return func.cast((func.julianday(column) - func.julianday(start)) * 24, Integer)


def get_group(session: Session, group_id: int) -> ErrorGroup | None:
    return session.get(ErrorGroup, group_id)


def recent_occurrences(session: Session, group_id: int, *, limit: int = 10) -> list[Occurrence]:
    query = (select(Occurrence).where(Occurrence.group_id == group_id)
             .order_by(Occurrence.received_at.desc(), Occurrence.id.desc()).limit(limit))
    return list(session.scalars(query))


def list_rejected(session: Session, *, since: datetime | None = None, limit: int = 50) -> list[RejectedEvent]:
    query = select(RejectedEvent).order_by(RejectedEvent.received_at.desc(), RejectedEvent.id.desc()).limit(limit)
    if since:
        query = query.where(RejectedEvent.received_at >= since)
    return list(session.scalars(query))


def stats(session: Session, *, now: datetime, window: timedelta = timedelta(hours=1)) -> dict[str, Any]:
    by_category = session.execute(
        select(ErrorGroup.category, func.count(), func.coalesce(func.sum(ErrorGroup.occurrence_count), 0))
        .group_by(ErrorGroup.category).order_by(ErrorGroup.category)
    ).all()
    by_severity = session.execute(
        select(ErrorGroup.severity, func.coalesce(func.sum(ErrorGroup.occurrence_count), 0))
        .group_by(ErrorGroup.severity)
    ).all()
    recent = session.scalar(select(func.count()).select_from(Occurrence).where(Occurrence.received_at >= now - window))
    last_seen = session.scalar(select(func.max(ErrorGroup.last_seen)))
    return {
        "groups": sum(groups for _, groups, _ in by_category),
        "occurrences": sum(int(count) for _, _, count in by_category),
        "rejected": session.scalar(select(func.count()).select_from(RejectedEvent)),
        f"occurrences_last_{int(window.total_seconds())}s": recent,
        "last_seen": last_seen.isoformat() if last_seen else None,
        "by_category": {cat: {"groups": groups, "occurrences": int(count)} for cat, groups, count in by_category},
        "by_severity": {sev: int(count) for sev, count in by_severity},
    }
