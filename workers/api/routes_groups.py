"""/api/groups: error groups with their triage, recovery state and messages per audience; resolve / reopen
(write access)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request, status
from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from config.errors import NotFound
from workers.api.auth import Client, reader, writer
from workers.api.ids import id_path
from workers.api.pages import Page, page
from workers.api.routes_recovery import Why
from workers.api.session import db
from workers.classification.taxonomy import Severity
from workers.clock import utcnow
from workers.intake import queries
from workers.intake.group_status import OPEN, RESOLVED, set_group_status
from workers.records import execution_dict, executions_with_context, group_dict, occurrence_dict
from workers.recovery import store
from workers.recovery.dead_filters import moment_of
from workers.recovery.store import Actor
from workers.storage.models import ErrorGroup, Execution

router = APIRouter(prefix="/api/groups", tags=["error groups"], dependencies=[Depends(reader)])

LOCALE_QUERY = Query(None, description="Locale of the messages, e.g. de or fr-CA; default: from Accept-Language.")


@router.get("", summary="Error groups, most recently seen first")
def list_groups(request: Request, paging: Page = Depends(page),
                category: str | None = None, service: str | None = None, status: str | None = None,
                severity: Severity | None = None,
                since: str | None = Query(None, max_length=64, description="Only seen since: 30m, 2h, 7d ago, or an "
                                                                           "ISO-8601 time."),
                q: str | None = Query(None, max_length=queries.MAX_SEARCH_CHARS,
                                      description="Only groups whose error type, message or service contains this "
                                                  "text (case-insensitive)."),
                locale: str | None = LOCALE_QUERY, accept_language: str | None = Header(None)) -> dict[str, Any]:
    seen_since = _moment("since", since)
    with db(request) as session:
        groups = queries.list_groups(session, category=category, service=service, status=status, severity=severity,
                                     since=seen_since, search=q, limit=paging.limit, offset=paging.offset)
        latest = latest_executions(session, [g.id for g in groups])
    return paging.wrap([with_messages(request, g, latest.get(g.id), locale, accept_language) for g in groups])


@router.get("/{group_id}", summary="One error group with its recent occurrences and executions")
def show_group(request: Request, group_id: int = id_path("error group"), occurrences: int = Query(5, ge=0, le=100),
               locale: str | None = LOCALE_QUERY, accept_language: str | None = Header(None)) -> dict[str, Any]:
    with db(request) as session:
        group = queries.get_group(session, group_id)
        if group is None:
            raise NotFound(f"no error group with id {group_id}")
        recent = queries.recent_occurrences(session, group_id, limit=occurrences)
        executions = executions_with_context(session, store.list_executions(session, group_id=group_id, limit=10))
    newest = executions[0][0] if executions else None
    return {**with_messages(request, group, newest, locale, accept_language),
            "occurrences": [occurrence_dict(o) for o in recent],
            "executions": [execution_dict(e, n, error) for e, n, error in executions]}


def latest_executions(session: Session, group_ids: list[int]) -> dict[int, Execution]:
    """The newest execution of each group: one index lookup per group on executions(group_id, id)."""
    if not group_ids:
        return {}
    newest = union_all(*(select(func.max(Execution.id)).where(Execution.group_id == group_id)
                         for group_id in group_ids))
    return {e.group_id: e for e in session.scalars(select(Execution).where(Execution.id.in_(newest)))}


def _moment(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return moment_of(value, now=utcnow())
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: {exc}") from None


def with_messages(request: Request, group: ErrorGroup, execution: Execution | None, locale: str | None,
                  accept_language: str | None) -> dict[str, Any]:
    data = group_dict(group)
    data["recovery"] = None if execution is None else {
        "execution_id": execution.id, "state": execution.state, "plan": execution.plan_name,
        "next_attempt_at": execution.next_attempt_at}
    fields = {"id": group.id, "category": group.category, "severity": group.severity, "retryable": group.retryable,
              "confidence": group.confidence, "rule_id": group.rule_id, "service": group.service,
              "operation": group.operation, "error_type": group.error_type, "message_template": group.message_template,
              "status": group.status, "occurrence_count": group.occurrence_count,
              "first_seen": group.first_seen, "last_seen": group.last_seen,
              "recovery_state": execution.state if execution else None,
              "next_attempt_at": execution.next_attempt_at if execution else None,
              "plan_name": execution.plan_name if execution else None}
    rendered = request.app.state.catalog.render_group(fields, locale=locale, accept_language=accept_language)
    data["locale"] = rendered.locale
    data["messages"] = rendered.messages
    return data


@router.post("/{group_id}/resolve", summary="Mark an error group resolved (write access)")
def resolve_group(request: Request, group_id: int = id_path("error group"), body: Why = Body(default_factory=Why),
                  client: Client = Depends(writer)) -> dict[str, Any]:
    """Audited (`group_resolved`, actor api:<token name>). Cleanup deletes a resolved group once it was last seen
    longer ago than MEDIC_CLEANUP__RESOLVED_GROUPS_DAYS; a new occurrence reopens it."""
    return _set_status(request, client, group_id, RESOLVED, body.reason)


@router.post("/{group_id}/reopen", summary="Mark a resolved error group open again (write access)")
def reopen_group(request: Request, group_id: int = id_path("error group"), body: Why = Body(default_factory=Why),
                 client: Client = Depends(writer)) -> dict[str, Any]:
    """Audited (`group_open`); cleanup leaves an open group alone."""
    return _set_status(request, client, group_id, OPEN, body.reason)


def _set_status(request: Request, client: Client, group_id: int, status_: str, reason: str | None) -> dict[str, Any]:
    with db(request) as session:
        change = set_group_status(session, group_id, status_, actor=Actor(f"api:{client.name}"), reason=reason)
    return {"id": group_id, "status": change.after, "previous": change.before}
