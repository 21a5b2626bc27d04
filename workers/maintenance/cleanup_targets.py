"""Which rows of which table are past retention, as SQL the cleanup job deletes in batches.

Every target is selected through an index, in that index's order, so that a batch's LIMIT
stops the scan early: equality columns, then the time column (see each model's
__table_args__). The DELETE checks the same conditions again, so a row that changed between
the selection and the delete (an alert reopened, an execution retried) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ColumnExpressionArgument, Table, and_, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from workers.notify.queue import SENT, SUPPRESSED
from workers.recovery.states import EXECUTION_STATES, FINISHED
from workers.storage.models import (
    Alert,
    AuditEntry,
    Base,
    BreakerTransition,
    ConsoleLogout,
    ErrorGroup,
    Execution,
    HealthSnapshot,
    MaintenanceRun,
    Notification,
    Occurrence,
    ReconciliationEntry,
    RejectedEvent,
)

RESOLVED = "resolved"  # error_groups.status and alerts.state
# Listed rather than NOT IN FINISHED, so that (state, updated_at) finds them.
UNFINISHED = tuple(state for state in EXECUTION_STATES if state not in FINISHED)


@dataclass(frozen=True)
class Target:
    kind: str  # the key its deletions are counted under
    table: Table
    where: tuple[ColumnExpressionArgument[bool], ...]
    order_by: tuple[ColumnExpressionArgument[Any], ...]  # the order of the index that finds the rows


def _target(kind: str, model: type[Base], *where: ColumnExpressionArgument[bool],
            order_by: tuple[ColumnExpressionArgument[Any], ...]) -> Target:
    return Target(kind, model.__table__, where, order_by)


def targets(kind: str, cutoff: datetime, *, keep_run_ids: Iterable[int] = ()) -> list[Target]:
    """The targets of one kind (groups excepted: see expired_group_ids)."""
    if kind == "executions":
        # Through (state, updated_at): a finished execution's last change is its finish, unless an
        # operator touched it afterwards - then it is kept until that change is past retention too.
        return [_target(kind, Execution, Execution.state == state, *finished_before(cutoff),
                        order_by=(Execution.updated_at,)) for state in sorted(FINISHED)]
    if kind == "notifications":  # never pending ones: they are still to be sent
        return [_target(kind, Notification, Notification.state == state, Notification.created_at < cutoff,
                        order_by=(Notification.created_at,)) for state in (SENT, SUPPRESSED)]
    # kind -> (model, its time column, other conditions)
    timed: dict[str, tuple[type[Base], InstrumentedAttribute[Any], tuple[ColumnElement[bool], ...]]] = {
        "audit": (AuditEntry, AuditEntry.at, (AuditEntry.execution_id.is_(None),)),  # kept as long as their execution
        "rejected_events": (RejectedEvent, RejectedEvent.received_at, ()),
        "maintenance_runs": (MaintenanceRun, MaintenanceRun.started_at,
                             (MaintenanceRun.id.not_in(list(keep_run_ids)),)),
        "health_snapshots": (HealthSnapshot, HealthSnapshot.taken_at, ()),
        "alerts": (Alert, Alert.resolved_at, (Alert.state == RESOLVED,)),
        "breaker_transitions": (BreakerTransition, BreakerTransition.at, ()),
        "reconciliation_log": (ReconciliationEntry, ReconciliationEntry.at, ()),
        "console_logouts": (ConsoleLogout, ConsoleLogout.expires_at, ()),  # the cutoff is now
    }
    model, column, conditions = timed[kind]
    return [_target(kind, model, *conditions, column < cutoff, order_by=(column,))]


def finished_before(at: datetime) -> tuple[ColumnElement[bool], ...]:
    return Execution.updated_at < at, Execution.finished_at < at


def group_expired(cutoff: datetime) -> tuple[ColumnElement[bool], ...]:
    """A group is expired when resolved, last seen before the cutoff, and none of its executions is still going."""
    other = aliased(Execution)  # not the executions row an enclosing DELETE is looking at
    unfinished = exists().where(other.group_id == ErrorGroup.id, other.state.in_(UNFINISHED))
    return ErrorGroup.status == RESOLVED, ErrorGroup.last_seen < cutoff, ~unfinished


def expired_group_ids(session: Session, cutoff: datetime, *, limit: int | None = None,
                      among: list[int] | None = None, lock: bool = False) -> list[int]:
    """Expired groups, oldest first; `among`: only these; `lock`: until the transaction ends (PostgreSQL),
    so that no new occurrence reopens them and no execution joins them meanwhile."""
    query = select(ErrorGroup.id).where(*group_expired(cutoff)).order_by(ErrorGroup.last_seen).limit(limit)
    if among is not None:
        query = query.where(ErrorGroup.id.in_(among))
    if lock:
        query = query.with_for_update()
    return list(session.scalars(query))


def group_child_target(kind: str, group_ids: list[int]) -> Target:
    """The executions or occurrences of these groups, group after group in their group_id index's order."""
    if kind == "group_executions":
        return _target(kind, Execution, _of_groups(Execution.group_id, group_ids), Execution.state.in_(FINISHED),
                       order_by=(Execution.group_id,))
    return _target(kind, Occurrence, _of_groups(Occurrence.group_id, group_ids),
                   order_by=(Occurrence.group_id, Occurrence.received_at))


def _of_groups(column: InstrumentedAttribute[int], group_ids: list[int]) -> ColumnElement[bool]:
    # One group as a range, not "=": PostgreSQL drops ORDER BY on a column it compares with "=",
    # and may then walk another index (received_at) filtering rows for a group that is a big share.
    if len(group_ids) == 1:
        return column.between(group_ids[0], group_ids[0])
    return column.in_(group_ids)


def groups_target(group_ids: list[int], cutoff: datetime) -> Target:
    return _target("groups", ErrorGroup, ErrorGroup.id.in_(group_ids), *group_expired(cutoff),
                   order_by=(ErrorGroup.last_seen,))


def group_counts(session: Session, cutoff: datetime, *, executions_cutoff: datetime | None) -> dict[str, int]:
    """What deleting the expired groups deletes. Executions the executions pass deletes first are not counted here."""
    expired = select(ErrorGroup.id).where(*group_expired(cutoff))
    executions: list[ColumnElement[bool]] = [Execution.group_id.in_(expired), Execution.state.in_(FINISHED)]
    if executions_cutoff is not None:
        executions.append(~and_(*finished_before(executions_cutoff)))

    def number(model: type[Base], *where: ColumnElement[bool]) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return {"groups": number(ErrorGroup, *group_expired(cutoff)),
            "group_executions": number(Execution, *executions),
            "group_occurrences": number(Occurrence, Occurrence.group_id.in_(expired))}
