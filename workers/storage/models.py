"""medic's tables. Schema changes go through Alembic (workers/storage/migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from workers.storage.types import UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    # Every datetime column: aware UTC in, aware UTC out, on SQLite as on PostgreSQL.
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}
    # SQLAlchemy types it as any FromClause (a class may be mapped to a query); each of medic's is a Table.
    __table__: ClassVar[Table]


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


class Execution(Base):
    """One run of a recovery plan for one occurrence. States: workers/recovery/states.py."""

    __tablename__ = "executions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("error_groups.id", ondelete="CASCADE"))
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrences.id", ondelete="CASCADE"))
    replay_of: Mapped[int | None] = mapped_column(BigInteger)  # the dead execution an operator replayed
    plan_name: Mapped[str] = mapped_column(String(128))
    plan: Mapped[dict[str, Any]]  # the plan as it was when the execution started
    service: Mapped[str] = mapped_column(String(256))
    category: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    run: Mapped[int] = mapped_column(Integer, default=1)  # an operator's retry of a finished execution starts run 2
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)  # why it is in its state
    queue: Mapped[str | None] = mapped_column(String(128))  # an operator's reassignment; None: medic.recovery
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped by every transition

    __table_args__ = (
        Index("ix_executions_state_updated", "state", "updated_at"),
        Index("ix_executions_updated", "updated_at", "id"),  # newest changes first (API, CLI)
        Index("ix_executions_group", "group_id", "id"),  # a group's newest execution
        Index("ix_executions_occurrence", "occurrence_id"),
    )
    # Every UPDATE checks and bumps the version: two writers of one execution cannot both win.
    __mapper_args__ = {"version_id_col": version}


class Attempt(Base):
    """One try of one step. Claimed by a conditional update: scheduled -> running happens once."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    execution_id: Mapped[int] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    run: Mapped[int] = mapped_column(Integer, default=1)
    step_index: Mapped[int] = mapped_column(Integer)
    step_kind: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)  # 1-based within its step
    state: Mapped[str] = mapped_column(String(16))
    scheduled_for: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]  # when its run message was last sent (or is due to arrive)
    dispatch_count: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(256))
    deadline_at: Mapped[datetime | None]
    # Claimed: when its work was handed over. None while a Celery replay is claimed and not yet published:
    # the sweeper sends one left so past MEDIC_RECOVERY_REDISPATCH_AFTER_S again.
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None]

    __table_args__ = (
        UniqueConstraint("execution_id", "run", "step_index", "number", name="uq_attempts_step_number"),
        Index("ix_attempts_state_scheduled", "state", "scheduled_for"),
        Index("ix_attempts_state_deadline", "state", "deadline_at"),
        # Its execution's attempts, and whether one was a call step (health's "tried", migration 0006).
        Index("ix_attempts_execution", "execution_id", "step_kind"),
    )


class AuditEntry(Base):
    """Who changed an execution, when, from what to what, and why. Kept when the execution is purged."""

    __tablename__ = "execution_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    execution_id: Mapped[int | None] = mapped_column(ForeignKey("executions.id", ondelete="SET NULL"))
    attempt_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(256))  # worker:<host>, sweeper, operator:<name>
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_execution_audit_execution_at", "execution_id", "at"),)


class BreakerRecord(Base):
    """A circuit breaker's shared state when the database holds it (embedded mode)."""

    __tablename__ = "breakers"

    service: Mapped[str] = mapped_column(String(256), primary_key=True)
    state: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]


class BreakerTransition(Base):
    __tablename__ = "breaker_transitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(256))
    at: Mapped[datetime]
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(256))

    __table_args__ = (Index("ix_breaker_transitions_service_at", "service", "at"),
                      Index("ix_breaker_transitions_at", "at"))


class GroupSignal(Base):
    """A group's signal state for its events without a recovery target (workers/notify/group_signals.py):
    the rate window of its spike signal and when each signal kind last went out. One row per group,
    locked by the batch that updates it, so concurrent intake workers count and claim correctly."""

    __tablename__ = "group_signals"

    group_id: Mapped[int] = mapped_column(ForeignKey("error_groups.id", ondelete="CASCADE"), primary_key=True)
    window_started_at: Mapped[datetime | None]  # the current fixed window of MEDIC_GROUP_SIGNAL_SPIKE_WINDOW_S
    window_count: Mapped[int] = mapped_column(BigInteger, default=0)  # occurrences in it
    previous_count: Mapped[int] = mapped_column(BigInteger, default=0)  # occurrences in the window before it
    new_sent_at: Mapped[datetime | None]
    regressed_sent_at: Mapped[datetime | None]
    spike_sent_at: Mapped[datetime | None]
    signals_sent: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class Notification(Base):
    """An alert on its way to a channel: a persistent queue, retried with backoff until sent."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))  # notify, escalate, breaker
    group_id: Mapped[int | None] = mapped_column(ForeignKey("error_groups.id", ondelete="SET NULL"))
    execution_id: Mapped[int | None] = mapped_column(ForeignKey("executions.id", ondelete="SET NULL"))
    dedup_key: Mapped[str] = mapped_column(String(512))  # the cooldown applies per key
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))  # pending, sent, suppressed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_notifications_state_next", "state", "next_attempt_at"),
        Index("ix_notifications_dedup_created", "dedup_key", "created_at"),
        Index("ix_notifications_state_created", "state", "created_at"),  # cleanup
        # ON DELETE SET NULL looks the referencing rows up: without these, a scan per deleted row.
        Index("ix_notifications_group", "group_id"),
        Index("ix_notifications_execution", "execution_id"),
    )


class Lease(Base):
    """A named lock with an expiry: single-flight for periodic jobs across processes and hosts."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime]


class MaintenanceRun(Base):
    """One run of a maintenance job, by beat or by hand: what it did, or why it was skipped or failed."""

    __tablename__ = "maintenance_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))  # beat | cli
    host: Mapped[str] = mapped_column(String(256))  # <host>:<pid>
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed | skipped
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]]
    summary: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_maintenance_runs_job_started", "job", "started_at"),
                      Index("ix_maintenance_runs_started", "started_at"),
                      # Each run closes the abandoned (status running) runs of its job: without it, a scan.
                      Index("ix_maintenance_runs_job_status", "job", "status", "finished_at"))


class ReconciliationEntry(Base):
    """A discrepancy a reconciliation check found, and what was done about it (before / after)."""

    __tablename__ = "reconciliation_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("maintenance_runs.id", ondelete="SET NULL"))
    check_name: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
    subject: Mapped[str] = mapped_column(String(512))  # which row or object, e.g. "error_groups:42"
    action: Mapped[str] = mapped_column(String(16))  # fixed | reported | dry_run | fix_failed | deferred | error
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_reconciliation_log_check_at", "check_name", "at"),
                      Index("ix_reconciliation_log_at", "at"),
                      Index("ix_reconciliation_log_run", "run_id"))  # ON DELETE SET NULL of maintenance runs


class Backup(Base):
    """A backup archive medic made, and what its last verification found."""

    __tablename__ = "backups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)  # the archive's file name
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    database_kind: Mapped[str] = mapped_column(String(16))  # sqlite | postgresql
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # of the whole archive
    manifest: Mapped[dict[str, Any]]
    verification: Mapped[str] = mapped_column(String(16))  # unverified | ok | failed | missing
    verified_at: Mapped[datetime | None]
    verification_detail: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[datetime | None]  # removed by retention

    __table_args__ = (Index("ix_backups_created", "created_at"),)


class HealthSnapshot(Base):
    """What the health job measured at one moment, and the status it derived."""

    __tablename__ = "health_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    taken_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # healthy | degraded | unhealthy | critical
    metrics: Mapped[dict[str, Any]]
    reasons: Mapped[dict[str, Any]]  # {"items": [...]} : why the status is not healthy

    __table_args__ = (Index("ix_health_snapshots_taken", "taken_at"),)


class Alert(Base):
    """An alert rule that fired: open until acknowledged, resolved automatically when the rule clears."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(256))  # what it is about, e.g. a service for breaker_open
    state: Mapped[str] = mapped_column(String(16))  # open | acknowledged | resolved
    level: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
    opened_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(256))
    acknowledged_reason: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_alerts_state_rule", "state", "rule"), Index("ix_alerts_opened", "opened_at"),
                      Index("ix_alerts_resolved", "resolved_at"))


class SigningKey(Base):
    """A key medic generated for itself, by what it signs (workers/recovery/callback_key.py); hex text."""

    __tablename__ = "signing_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class Installation(Base):
    """One row: when this database was set up (migration 0007; a database that had run already dates from
    its first maintenance run). A fresh install is not judged on backups before its first one is due."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installed_at: Mapped[datetime]


class ConsoleLogout(Base):
    """A console session logged out before it expired: its cookie is refused from then on, by every replica.

    The session is known by the sha256 of its CSRF token (never the token itself); the row is deleted by
    the cleanup job once the session would have expired anyway."""

    __tablename__ = "console_logouts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex sha256 of the session's CSRF token
    token_name: Mapped[str] = mapped_column(String(128))
    logged_out_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (Index("ix_console_logouts_expires", "expires_at"),)  # cleanup
