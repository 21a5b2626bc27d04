"""Storing intake's results: error groups, occurrences and rejected events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, TextClause, bindparam, text
from sqlalchemy.orm import Session

from workers.intake.triage import Accepted, Rejected
from workers.storage.models import ErrorGroup, Occurrence, RejectedEvent


@dataclass(frozen=True)
class Stored:
    group_id: int
    occurrence_id: int | None  # None: a duplicate (same delivery or idempotency key), nothing stored
    followup: Any = None  # what `then` returned

    @property
    def duplicate(self) -> bool:
        return self.occurrence_id is None


_TRIAGE_COLUMNS = ("category", "severity", "retryable", "confidence", "rule_id")


def _insert_sql(table: Table, on_conflict: str) -> TextClause:
    """INSERT of every column but the id, with typed parameters; PostgreSQL and SQLite (>= 3.35)
    share this syntax. Text, because SQLAlchemy does not cache dialect INSERT ... ON CONFLICT
    constructs (inherit_cache = False) and would compile them again for every event."""
    columns = [c for c in table.columns if c.name != "id"]
    sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) "
           f"VALUES ({', '.join(':' + c.name for c in columns)}) {on_conflict} RETURNING id")
    return text(sql).bindparams(*(bindparam(c.name, type_=c.type) for c in columns))


_UPSERT_GROUP = _insert_sql(ErrorGroup.__table__, (
    "ON CONFLICT (fingerprint) DO UPDATE SET occurrence_count = error_groups.occurrence_count + 1, "
    "first_seen = CASE WHEN excluded.first_seen < error_groups.first_seen "
    "THEN excluded.first_seen ELSE error_groups.first_seen END, "
    "last_seen = CASE WHEN excluded.last_seen > error_groups.last_seen "
    "THEN excluded.last_seen ELSE error_groups.last_seen END, status = 'open', "
    # the latest classification wins
    + ", ".join(f"{column} = excluded.{column}" for column in _TRIAGE_COLUMNS)))
_ADD_OCCURRENCE = _insert_sql(Occurrence.__table__, "ON CONFLICT DO NOTHING")
_ADD_REJECTED = _insert_sql(RejectedEvent.__table__, "ON CONFLICT DO NOTHING")


def store_accepted(session: Session, accepted: Accepted, *, delivery_id: str, received_at: datetime,
                   then: Callable[[Session, int, int], Any] | None = None) -> Stored:
    """Count the occurrence in its group and store it, in one transaction; duplicates change nothing.

    `then(session, group_id, occurrence_id)` runs in the same transaction for a new occurrence
    (the recovery execution is created there, so an occurrence never lacks one)."""
    c, seen_at, event = accepted.classification, accepted.occurred_at, accepted.event
    triage = dict(zip(_TRIAGE_COLUMNS, (c.category, c.severity, c.retryable, c.confidence, c.rule), strict=True))
    group = {"fingerprint": accepted.fingerprint, "error_type": event["error_type"],
             "message_template": accepted.message_template, "service": event["service"],
             "operation": event.get("operation"), "status": "open", "occurrence_count": 1,
             "first_seen": seen_at, "last_seen": seen_at, **triage}
    occurrence = {"delivery_id": delivery_id, "idempotency_key": accepted.idempotency_key,
                  "received_at": received_at, "occurred_at": seen_at, "source": event.get("source"),
                  "message": event["message"], "event": event, **triage}
    connection = session.connection()
    try:
        group_id = connection.execute(_UPSERT_GROUP, group).scalar_one()
        occurrence_id = connection.execute(_ADD_OCCURRENCE, {"group_id": group_id, **occurrence}).scalar_one_or_none()
        followup = None
        if occurrence_id is None:  # a duplicate rolls back, undoing its count: that occurrence is already stored
            session.rollback()
        else:
            followup = then(session, group_id, occurrence_id) if then else None
            session.commit()
    except BaseException:
        session.rollback()
        raise
    return Stored(group_id, occurrence_id, followup)


def store_rejected(session: Session, rejected: Rejected, *, delivery_id: str, received_at: datetime) -> bool:
    """Keep a rejected payload; False when this delivery was already kept."""
    row = {"delivery_id": delivery_id, "received_at": received_at, "reason": rejected.reason,
           "payload": rejected.payload, "payload_bytes": rejected.payload_bytes}
    try:
        kept = session.connection().execute(_ADD_REJECTED, row).scalar_one_or_none() is not None
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return kept
