"""Reading intake's results back: error groups, their occurrences, rejected events, counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workers.storage.models import ErrorGroup, Occurrence, RejectedEvent


def list_groups(session: Session, *, category: str | None = None, service: str | None = None,
                status: str | None = None, since: datetime | None = None, limit: int = 50) -> list[ErrorGroup]:
    query = select(ErrorGroup).order_by(ErrorGroup.last_seen.desc(), ErrorGroup.id.desc()).limit(limit)
    if category:
        query = query.where(ErrorGroup.category == category)
    if service:
        query = query.where(ErrorGroup.service == service)
    if status:
        query = query.where(ErrorGroup.status == status)
    if since:
        query = query.where(ErrorGroup.last_seen >= since)
    return list(session.scalars(query))


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
