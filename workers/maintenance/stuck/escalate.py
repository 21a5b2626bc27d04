"""Escalating stuck executions: an audit row each, so it happens once, and one critical notification per run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings
from workers.maintenance.stuck.detect import IDS_PER_QUERY, Planned
from workers.maintenance.stuck.policy import ESCALATED_ACTION
from workers.notify.delivery import request_delivery
from workers.notify.message import Message
from workers.notify.queue import enqueue
from workers.recovery import store
from workers.recovery.service import RecoveryService
from workers.recovery.states import FINISHED
from workers.recovery.store import Actor
from workers.storage.models import Execution

LISTED_MAX = 20  # executions named in the notification; the rest are counted
OPERATOR_HINT = "see `medic stuck list`, then `medic stuck requeue|force|reset|complete|reassign ID`"


def escalate(service: RecoveryService, settings: Settings, entries: list[Planned], *, run_id: int | None,
             actor: Actor) -> int:
    """Record the escalation of each still unfinished execution and queue one notification; returns how many."""
    now = service.clock()
    with service.session() as session:
        executions = _unfinished(session, [entry.item.execution_id for entry in entries])
        escalated = [entry for entry in entries if entry.item.execution_id in executions]
        if not escalated:
            return 0
        for entry in escalated:
            execution = executions[entry.item.execution_id]
            store.audit(session, execution, at=now, actor=actor, action=ESCALATED_ACTION, from_state=execution.state,
                        reason=f"stuck ({_kind(entry.item.kind)}) after {entry.history.requeues} requeue(s): "
                               "left to an operator",
                        detail={"kind": entry.item.kind, "requeues": entry.history.requeues,
                                "since": entry.item.since.isoformat(), "run_id": run_id})
        row = enqueue(session, _message(escalated, executions, now), channel=settings.stuck.escalation_channel,
                      now=now, cooldown_s=0)  # each escalation is news, and happens once per execution
        session.commit()
        notification_id = row.id
    request_delivery(service.dispatcher, notification_id)  # the sweeper would, but it may be what is not running
    return len(escalated)


def _unfinished(session: Session, ids: list[int]) -> dict[int, Execution]:
    found: dict[int, Execution] = {}
    for start in range(0, len(ids), IDS_PER_QUERY):
        query = select(Execution).where(Execution.id.in_(ids[start:start + IDS_PER_QUERY]),
                                        Execution.state.not_in(FINISHED))
        found.update((execution.id, execution) for execution in session.scalars(query))
    return found


def _message(escalated: list[Planned], executions: dict[int, Execution], now: datetime) -> Message:
    lines = [f"{entry.item.execution_id}: {_kind(entry.item.kind)} for {_age(entry.item.since, now)}, "
             f"{executions[entry.item.execution_id].state}, requeued {entry.history.requeues} time(s)"
             for entry in escalated[:LISTED_MAX]]
    fields: dict[str, Any] = {"executions": "\n".join(lines)}
    if len(escalated) > LISTED_MAX:
        fields["more"] = len(escalated) - LISTED_MAX
    fields["what to do"] = OPERATOR_HINT
    only = executions[escalated[0].item.execution_id] if len(escalated) == 1 else None
    subject = (f"execution {only.id} is stuck and was escalated" if only
               else f"{len(escalated)} stuck executions were escalated")
    return Message(subject=subject, level="critical", kind="stuck", fields=fields,
                   group_id=only.group_id if only else None, execution_id=only.id if only else None)


def _kind(kind: str) -> str:
    return kind.replace("_", " ")


def _age(since: datetime, now: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
