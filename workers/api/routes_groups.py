"""/api/groups: error groups with their triage, recovery state and messages per audience."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from config.errors import NotFound
from workers.api.auth import reader
from workers.api.ids import id_path
from workers.api.pages import Page, page
from workers.api.session import db
from workers.intake import queries
from workers.records import execution_dict, executions_with_context, group_dict, occurrence_dict
from workers.recovery import store
from workers.storage.models import ErrorGroup, Execution

router = APIRouter(prefix="/api/groups", tags=["error groups"], dependencies=[Depends(reader)])

LOCALE_QUERY = Query(None, description="Locale of the messages, e.g. de or fr-CA; default: from Accept-Language.")


@router.get("", summary="Error groups, most recently seen first")
def list_groups(request: Request, paging: Page = Depends(page),
                category: str | None = None, service: str | None = None, status: str | None = None,
                locale: str | None = LOCALE_QUERY, accept_language: str | None = Header(None)) -> dict[str, Any]:
    with db(request) as session:
        query = select(ErrorGroup).order_by(ErrorGroup.last_seen.desc(), ErrorGroup.id.desc())
        filters = ((ErrorGroup.category, category), (ErrorGroup.service, service), (ErrorGroup.status, status))
        for column, value in filters:
            if value:
                query = query.where(column == value)
        groups = list(session.scalars(query.limit(paging.limit).offset(paging.offset)))
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
