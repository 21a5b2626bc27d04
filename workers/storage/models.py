"""medic's tables. Schema changes go through Alembic (workers/storage/migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Triage:
    """The classification columns shared by groups (latest) and occurrences (at intake)."""

    category: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    retryable: Mapped[bool] = mapped_column(Boolean)
    confidence: Mapped[float] = mapped_column(Float)
    rule_id: Mapped[str] = mapped_column(String(128))


class ErrorGroup(Triage, Base):
    """Occurrences that share a fingerprint: one error, however often it happens."""

    __tablename__ = "error_groups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    error_type: Mapped[str] = mapped_column(String(256))
    message_template: Mapped[str] = mapped_column(Text)
    service: Mapped[str] = mapped_column(String(256))
    operation: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="open")
    occurrence_count: Mapped[int] = mapped_column(BigInteger, default=1)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]

    __table_args__ = (
        Index("ix_error_groups_last_seen", "last_seen"),
        Index("ix_error_groups_category_last_seen", "category", "last_seen"),
        Index("ix_error_groups_status_last_seen", "status", "last_seen"),
    )


class Occurrence(Triage, Base):
    """One reported error, masked and capped, with its classification at intake time."""

    __tablename__ = "occurrences"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("error_groups.id", ondelete="CASCADE"))
    # The broker message id: a redelivered message carries the same one and is stored once.
    delivery_id: Mapped[str] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(256), unique=True)
    received_at: Mapped[datetime]
    occurred_at: Mapped[datetime]
    source: Mapped[str | None] = mapped_column(String(256))
    message: Mapped[str] = mapped_column(Text)
    event: Mapped[dict[str, Any]]  # the whole event after masking and capping

    __table_args__ = (
        Index("ix_occurrences_group_received", "group_id", "received_at"),
        Index("ix_occurrences_received_at", "received_at"),
    )


class RejectedEvent(Base):
    """A payload that failed validation, kept (masked, capped) for operators."""

    __tablename__ = "rejected_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    payload_bytes: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_rejected_events_received_at", "received_at"),)
