"""`medic stuck`: executions that stopped making progress, and the operator's ways to move them.

Reads go to the database; changes go through workers.recovery.operator (the stuck job's requeue
is the same function), audited with the operator (operator:$USER) as the actor.
"""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from workers.cli.context import database, json_option, limit_option, settings
from workers.cli.output import emit_json, emit_table
from workers.cli.recovery import recovery_service, state_of, step_text
from workers.clock import relative, utcnow
from workers.maintenance.stuck.detect import Planned, plan
from workers.recovery import operator as ops
from workers.recovery.service import Dispatch
from workers.storage.models import Attempt, Execution

reason_option = click.option("--reason", help="Why, for the audit trail.")


@click.group()
def stuck() -> None:
    """Stuck executions: list them, requeue, force, reset, complete or reassign one.

    An execution is stuck when it makes no progress beyond a threshold (MEDIC_STUCK__*): its
    attempt runs past its deadline, is due but was never sent, is sent but nobody claims it, or
    it has no attempt at all. The `stuck` maintenance job requeues such executions and escalates
    those requeued MEDIC_STUCK__MAX_REQUEUES times; the commands here are what an operator does next.
    """


@stuck.command("list")
@limit_option
@json_option
def stuck_list(limit, as_json) -> None:
    """List stuck executions, longest stuck first, with what the stuck job will do with each."""
    now = utcnow()
    with database() as session:
        planned = plan(session, settings().stuck, now, limit=limit)
        executions = {e.id: e for e in session.scalars(
            select(Execution).where(Execution.id.in_([p.item.execution_id for p in planned])))}
    rows = [_row(p, executions[p.item.execution_id]) for p in planned if p.item.execution_id in executions]
    if as_json:
        emit_json(rows)
        return
    emit_table(([r["execution_id"], r["kind"], r["state"], f"{r['step']}/{r['steps']} {r['step_kind'] or '?'}",
                 f"{r['stuck_since']:%Y-%m-%d %H:%M:%S} ({relative(r['stuck_since'], now)})", r["requeues"],
                 r["policy"], r["queue"]] for r in rows),
               ["execution", "kind", "state", "step", "stuck since", "requeues", "policy", "queue"],
               empty="no stuck executions")


def _row(entry: Planned, execution: Execution) -> dict[str, Any]:
    steps = (execution.plan or {}).get("steps") or []
    kind = steps[execution.step_index].get("kind") if execution.step_index < len(steps) else None
    return {"execution_id": execution.id, "kind": entry.item.kind, "state": execution.state,
            "attempt_id": entry.item.attempt_id, "step": execution.step_index + 1, "steps": len(steps),
            "step_kind": kind, "stuck_since": entry.item.since, "requeues": entry.history.requeues,
            "escalated": entry.history.escalated, "action": entry.decision.action, "policy": entry.decision.why,
            "queue": execution.queue or "medic.recovery", "service": execution.service, "plan": execution.plan_name}


@stuck.command("requeue")
@click.argument("execution_id", type=int)
@reason_option
def stuck_requeue(execution_id, reason) -> None:
    """Make it run again now.

    A running attempt (its worker gone) is timed out and the plan's next attempt scheduled; a
    scheduled attempt is made due and its message sent again; with no attempt, the plan goes on
    from where it stands. A finished execution exits 2.
    """
    before, service = state_of(execution_id), recovery_service()
    done = ops.requeue(service, execution_id, actor=service.actor, reason=reason)
    how = {ops.TIMED_OUT: "its running attempt timed out", ops.RESENT: "its attempt sent again",
           ops.RESUMED: "its plan resumed", ops.MOVED: "nothing to do: it moved on meanwhile"}[done.how]
    _report(execution_id, before, f"requeued ({how})", service.actor.name, done.dispatch)


@stuck.command("force")
@click.argument("execution_id", type=int)
@reason_option
def stuck_force(execution_id, reason) -> None:
    """Move it to the next step of its plan now.

    Its open attempt is cancelled (an outcome arriving later is ignored). Past the last step it
    ends as the plan says when steps run out (dead or failed). A finished execution exits 2.
    """
    before, service = state_of(execution_id), recovery_service()
    dispatch = ops.force(service, execution_id, actor=service.actor, reason=reason)
    _report(execution_id, before, "forced to the next step", service.actor.name, dispatch)


@stuck.command("reset")
@click.argument("execution_id", type=int)
@reason_option
def stuck_reset(execution_id, reason) -> None:
    """Start its plan again from the first step, now (a new run); its open attempt is cancelled."""
    before, service = state_of(execution_id), recovery_service()
    dispatch = ops.reset(service, execution_id, actor=service.actor, reason=reason)
    _report(execution_id, before, "reset to step 1", service.actor.name, dispatch)


@stuck.command("complete")
@click.argument("execution_id", type=int)
@click.option("--reason", required=True, help="How it was resolved (kept in the audit trail and as its reason).")
def stuck_complete(execution_id, reason) -> None:
    """Mark it resolved by hand: it ends as succeeded, with your reason; nothing more is tried."""
    before, service = state_of(execution_id), recovery_service()
    ops.complete(service, execution_id, actor=service.actor, reason=reason)
    _report(execution_id, before, "completed", service.actor.name, None)


@stuck.command("reassign")
@click.argument("execution_id", type=int)
@click.option("--queue", required=True, help="medic.recovery, or an extra recovery queue medic.recovery.<name>.")
@reason_option
def stuck_reassign(execution_id, queue, reason) -> None:
    """Send its run messages to another recovery queue from now on.

    A worker must consume that queue: `medic worker --queues medic.recovery.<name>`. A message
    already sent to the old queue is sent again to the new one.
    """
    before, service = state_of(execution_id), recovery_service()
    dispatch = ops.reassign(service, execution_id, queue, actor=service.actor, reason=reason)
    _report(execution_id, before, f"reassigned to queue {queue}", service.actor.name, dispatch)


def _report(execution_id: int, before: str, did: str, actor: str, dispatch: Dispatch | None) -> None:
    with database() as session:
        execution = session.get_one(Execution, execution_id)
        attempt = session.get(Attempt, dispatch.attempt_id) if dispatch else None
    line = f"execution {execution_id} {did} by {actor}: {before} → {execution.state}, step {step_text(execution)}"
    if dispatch is not None and attempt is not None:
        due = "now" if dispatch.countdown_s == 0 else relative(attempt.scheduled_for, utcnow())
        line += f"; attempt {attempt.number} of step {attempt.step_index + 1} ({attempt.step_kind}) runs {due}"
    click.echo(line)
