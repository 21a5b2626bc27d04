"""Dead letters a page at a time, selected as the bulk operations select them (workers/recovery/dead_filters.py):
the list of GET /api/dead, `medic dead list` and the console's Dead letters page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from workers.recovery.dead_filters import DeadFilter
from workers.recovery.states import DEAD
from workers.storage.models import Execution


def where_selected(query: Select[Any], selection: DeadFilter) -> Select[Any]:
    """The query narrowed to the dead letters the filter selects (died_after included, died_before excluded)."""
    query = query.where(Execution.state == DEAD)
    for column, value in ((Execution.service, selection.service), (Execution.category, selection.category),
                          (Execution.group_id, selection.group_id)):
        if value is not None:
            query = query.where(column == value)
    if selection.died_after is not None:
        query = query.where(Execution.finished_at >= selection.died_after)
    if selection.died_before is not None:
        query = query.where(Execution.finished_at < selection.died_before)
    return query


def list_dead(session: Session, selection: DeadFilter | None = None, *, limit: int = 50,
              offset: int = 0) -> list[Execution]:
    """Newest change first (for a dead letter, its death), on ix_executions_state_updated."""
    query = where_selected(select(Execution), selection or DeadFilter())
    return list(session.scalars(query.order_by(Execution.updated_at.desc(), Execution.id.desc())
                                .limit(limit).offset(offset)))


def count_dead(session: Session, selection: DeadFilter | None = None) -> int:
    return int(session.scalar(where_selected(select(func.count()).select_from(Execution), selection or DeadFilter()))
               or 0)
