"""The only place that speaks SQL about errors: storing intake results and reading them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workers.intake import Accepted, Rejected
from workers.storage.models import ErrorGroup, Occurrence, RejectedEvent


@dataclass(frozen=True)
class Stored:
    group_id: int
    occurrence_id: int | None  # None: a duplicate (same delivery or idempotency key), nothing stored

    @property
    def duplicate(self) -> bool:
        return self.occurrence_id is None


def utc(moment: datetime) -> datetime:
    """Aware UTC; SQLite hands back naive datetimes, which medic always writes as UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _insert(session: Session, model: type):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def store_accepted(session: Session, accepted: Accepted, *, delivery_id: str, received_at: datetime) -> Stored:
    """Count the occurrence in its group and store it, in one transaction; duplicates change nothing."""
    c, seen_at = accepted.classification, utc(accepted.occurred_at)
    event = accepted.event
    triage = {"category": c.category, "severity": c.severity, "retryable": c.retryable,
              "confidence": c.confidence, "rule_id": c.rule}
    group = _insert(session, ErrorGroup).values(
        fingerprint=accepted.fingerprint, error_type=event["error_type"], message_template=accepted.message_template,
        service=event["service"], operation=event.get("operation"), status="open", occurrence_count=1,
        first_seen=seen_at, last_seen=seen_at, **triage,
    )
    new = group.excluded
    group = group.on_conflict_do_update(
        index_elements=[ErrorGroup.fingerprint],
        set_={
            "occurrence_count": ErrorGroup.occurrence_count + 1,
            "first_seen": case((new.first_seen < ErrorGroup.first_seen, new.first_seen), else_=ErrorGroup.first_seen),
            "last_seen": case((new.last_seen > ErrorGroup.last_seen, new.last_seen), else_=ErrorGroup.last_seen),
            **{column: new[column] for column in triage}, "status": "open",
        },
    ).returning(ErrorGroup.id)
    try:
        group_id = session.execute(group).scalar_one()
        occurrence = _insert(session, Occurrence).values(
            group_id=group_id, delivery_id=delivery_id, idempotency_key=accepted.idempotency_key,
            received_at=utc(received_at), occurred_at=seen_at, source=event.get("source"),
            message=event["message"], event=event, **triage,
        ).on_conflict_do_nothing().returning(Occurrence.id)
        occurrence_id = session.execute(occurrence).scalar_one_or_none()
        # A duplicate rolls back, undoing its count: that occurrence is already stored.
        session.commit() if occurrence_id is not None else session.rollback()
    except BaseException:
        session.rollback()
        raise
    return Stored(group_id, occurrence_id)


def store_rejected(session: Session, rejected: Rejected, *, delivery_id: str, received_at: datetime) -> bool:
    """Keep a rejected payload; False when this delivery was already kept."""
    statement = _insert(session, RejectedEvent).values(
        delivery_id=delivery_id, received_at=utc(received_at), reason=rejected.reason,
        payload=rejected.payload, payload_bytes=rejected.payload_bytes,
    ).on_conflict_do_nothing().returning(RejectedEvent.id)
    try:
        kept = session.execute(statement).scalar_one_or_none() is not None
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return kept


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
        query = query.where(ErrorGroup.last_seen >= utc(since))
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
        query = query.where(RejectedEvent.received_at >= utc(since))
    return list(session.scalars(query))


def stats(session: Session, *, now: datetime, window: timedelta = timedelta(hours=1)) -> dict[str, Any]:
    by_category = session.execute(
        select(ErrorGroup.category, func.count(), func.coalesce(func.sum(ErrorGroup.occurrence_count), 0))
        .group_by(ErrorGroup.category).order_by(ErrorGroup.category)
    ).all()
    by_severity = session.execute(
        select(ErrorGroup.severity, func.coalesce(func.sum(ErrorGroup.occurrence_count), 0)).group_by(ErrorGroup.severity)
    ).all()
    recent = session.scalar(select(func.count()).select_from(Occurrence).where(Occurrence.received_at >= utc(now - window)))
    last_seen = session.scalar(select(func.max(ErrorGroup.last_seen)))
    return {
        "groups": sum(groups for _, groups, _ in by_category),
        "occurrences": sum(int(count) for _, _, count in by_category),
        "rejected": session.scalar(select(func.count()).select_from(RejectedEvent)),
        f"occurrences_last_{int(window.total_seconds())}s": recent,
        "last_seen": utc(last_seen).isoformat() if last_seen else None,
        "by_category": {cat: {"groups": groups, "occurrences": int(count)} for cat, groups, count in by_category},
        "by_severity": {sev: int(count) for sev, count in by_severity},
    }
