"""Stored rows as plain dicts: the shapes `--json` prints and the HTTP API returns.

One place, so the CLI and the API never disagree on a field's name or format.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workers.storage.models import Alert, Attempt, AuditEntry, ErrorGroup, Execution, Occurrence, RejectedEvent


def group_dict(group: ErrorGroup) -> dict[str, Any]:
    return {"id": group.id, "fingerprint": group.fingerprint, "error_type": group.error_type,
            "message": group.message_template, "service": group.service, "operation": group.operation,
            "category": group.category, "severity": group.severity, "retryable": group.retryable,
            "confidence": group.confidence, "rule": group.rule_id, "status": group.status,
            "count": group.occurrence_count, "first_seen": group.first_seen, "last_seen": group.last_seen}


def occurrence_dict(occurrence: Occurrence) -> dict[str, Any]:
    return {"id": occurrence.id, "received_at": occurrence.received_at, "occurred_at": occurrence.occurred_at,
            "category": occurrence.category, "rule": occurrence.rule_id, "event": occurrence.event}


def rejected_dict(row: RejectedEvent) -> dict[str, Any]:
    return {"id": row.id, "received_at": row.received_at, "delivery_id": row.delivery_id,
            "reason": row.reason, "payload_bytes": row.payload_bytes, "payload": row.payload}


def step_of(execution: Execution) -> tuple[int, int, str | None]:
    """(1-based step number, number of steps, kind of the current step)."""
    steps = (execution.plan or {}).get("steps") or []
    kind = steps[execution.step_index].get("kind") if execution.step_index < len(steps) else None
    return execution.step_index + 1, len(steps), kind


def execution_dict(execution: Execution, attempts: int, error: str | None) -> dict[str, Any]:
    number, total, kind = step_of(execution)
    return {"id": execution.id, "state": execution.state, "reason": execution.reason, "plan": execution.plan_name,
            "service": execution.service, "category": execution.category, "group_id": execution.group_id,
            "occurrence_id": execution.occurrence_id, "error": error, "replay_of": execution.replay_of,
            "run": execution.run,
            "step": number, "step_kind": kind, "steps": total, "attempts": attempts,
            "next_attempt_at": execution.next_attempt_at, "last_error": execution.last_error,
            "created_at": execution.created_at, "updated_at": execution.updated_at,
            "finished_at": execution.finished_at}


def attempt_dict(attempt: Attempt) -> dict[str, Any]:
    return {"id": attempt.id, "run": attempt.run, "step": attempt.step_index + 1, "step_kind": attempt.step_kind,
            "number": attempt.number, "state": attempt.state, "scheduled_for": attempt.scheduled_for,
            "dispatched_at": attempt.dispatched_at, "claimed_at": attempt.claimed_at,
            "claimed_by": attempt.claimed_by, "deadline_at": attempt.deadline_at,
            "finished_at": attempt.finished_at, "outcome": attempt.outcome, "error": attempt.error,
            "detail": attempt.detail}


def audit_dict(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action,
            "from_state": entry.from_state, "to_state": entry.to_state, "reason": entry.reason,
            "attempt_id": entry.attempt_id, "detail": entry.detail}


def alert_dict(alert: Alert) -> dict[str, Any]:
    return {"id": alert.id, "rule": alert.rule, "subject": alert.subject, "state": alert.state, "level": alert.level,
            "summary": alert.summary, "detail": alert.detail, "opened_at": alert.opened_at,
            "last_seen_at": alert.last_seen_at, "acknowledged_at": alert.acknowledged_at,
            "acknowledged_by": alert.acknowledged_by, "acknowledged_reason": alert.acknowledged_reason,
            "resolved_at": alert.resolved_at}


def error_of(event: dict[str, Any] | None) -> str | None:
    """The reported error in one line: `type: message`."""
    if not event:
        return None
    return f"{event.get('error_type', '?')}: {event.get('message', '')}"


def attempt_counts(session: Session, execution_ids: list[int]) -> dict[int, int]:
    if not execution_ids:
        return {}
    rows = session.execute(select(Attempt.execution_id, func.count()).where(Attempt.execution_id.in_(execution_ids))
                           .group_by(Attempt.execution_id))
    return dict(rows.tuples().all())


def errors_of(session: Session, occurrence_ids: list[int]) -> dict[int, str | None]:
    """Each occurrence's reported error in one line."""
    if not occurrence_ids:
        return {}
    rows = session.execute(select(Occurrence.id, Occurrence.event).where(Occurrence.id.in_(occurrence_ids)))
    return {occurrence_id: error_of(event) for occurrence_id, event in rows.all()}


def executions_with_context(session: Session, executions: list[Execution]) -> list[tuple[Execution, int, str | None]]:
    """Executions, each with its number of attempts and its reported error (two queries for the whole page)."""
    counts = attempt_counts(session, [e.id for e in executions])
    errors = errors_of(session, sorted({e.occurrence_id for e in executions}))
    return [(e, counts.get(e.id, 0), errors.get(e.occurrence_id)) for e in executions]
