"""`medic executions`: see and steer recovery executions (`medic dead` is in workers/cli/dead.py).

Reads go straight to the database; every change goes through workers.recovery.operator, the
code path the workers use, with the operator (operator:$USER) as the audited actor.
"""

from __future__ import annotations

import os
from datetime import datetime

import click
from sqlalchemy import select

from config.errors import NotFound
from workers.cli.context import database, json_option, limit_option, require_database, settings
from workers.cli.output import emit_fields, emit_json, emit_table
from workers.clock import relative, utcnow
from workers.records import attempt_dict, audit_dict, error_of, execution_dict, executions_with_context, step_of
from workers.recovery import operator as ops
from workers.recovery import store
from workers.recovery.factory import build_recovery_service
from workers.recovery.service import RecoveryService
from workers.recovery.states import DEAD, EXECUTION_STATES, FINISHED, PENDING, WAITING
from workers.storage.models import Attempt, AuditEntry, Execution

service_option = click.option("--service", help="Only this service.")


def cli_actor() -> store.Actor:
    return ops.operator(os.environ.get("USER") or "cli")


def recovery_service() -> RecoveryService:
    """The recovery service as the workers run it, acting as the operator, sending on medic's broker."""
    current = settings()
    require_database()
    return build_recovery_service(current, actor=cli_actor())


def step_text(execution: Execution) -> str:
    number, total, kind = step_of(execution)
    return f"{number}/{total} {kind or '?'}"


def _next_attempt(execution: Execution, now: datetime) -> str | None:
    # A running execution keeps the time of the attempt now in flight: nothing is next yet.
    return relative(execution.next_attempt_at, now) if execution.state in (PENDING, WAITING) else None


def listed(states: list[str], service: str | None, group_id: int | None,
           limit: int) -> list[tuple[Execution, int, str | None]]:
    """Executions, newest change first, each with its number of attempts and its reported error."""
    with database() as session:
        rows = store.list_executions(session, states=states, service=service, group_id=group_id, limit=limit)
        return executions_with_context(session, rows)


# --- executions -------------------------------------------------------------------------------

@click.group()
def executions() -> None:
    """Recovery executions: list, show, retry, cancel.

    An execution is one recovery plan running for one reported error; its attempts and every
    change of state (with who made it and why) are kept.
    """


@executions.command("list")
@click.option("--state", "states", multiple=True, type=click.Choice(EXECUTION_STATES),
              help="Only in this state (repeatable).")
@service_option
@click.option("--group", "group_id", type=int, help="Only executions of this error group.")
@limit_option
@json_option
def executions_list(states, service, group_id, limit, as_json) -> None:
    """List executions, most recently changed first."""
    rows, now = listed(list(states), service, group_id, limit), utcnow()
    if as_json:
        emit_json([execution_dict(e, n, error) for e, n, error in rows])
        return
    emit_table(([e.id, e.state, e.plan_name, e.service, e.category, step_text(e), n, _next_attempt(e, now),
                 e.updated_at, error] for e, n, error in rows),
               ["id", "state", "plan", "service", "category", "step", "attempts", "next attempt", "updated", "error"],
               empty="no executions")


@executions.command("show")
@click.argument("execution_id", type=int)
@json_option
def executions_show(execution_id, as_json) -> None:
    """Show one execution with its attempts and its audit trail."""
    show_execution(execution_id, as_json, dead_only=False)


@executions.command("retry")
@click.argument("execution_id", type=int)
@click.option("--reason", help="Why, for the audit trail.")
def executions_retry(execution_id, reason) -> None:
    """Run the next attempt now.

    A waiting execution's scheduled attempt becomes due at once; a failed, dead or cancelled one
    starts again from its first step (a new run). A succeeded or running execution exits 2.
    """
    before = state_of(execution_id)
    service = recovery_service()
    dispatch = ops.retry(service, execution_id, actor=service.actor, reason=reason)
    with database() as session:
        execution = session.get(Execution, execution_id)
        attempt = session.get(Attempt, dispatch.attempt_id) if dispatch else None
    if execution is None:  # deleted by someone else right after the retry
        raise NotFound(f"no execution {execution_id}")
    did = f"restarted (run {execution.run})" if before in FINISHED else "retried"
    line = f"execution {execution_id} {did} by {service.actor.name}: {execution.state}"
    if dispatch is not None and attempt is not None:
        due = "now" if dispatch.countdown_s == 0 else relative(attempt.scheduled_for, utcnow())
        line += f", attempt {attempt.number} of step {attempt.step_index + 1} ({attempt.step_kind}) runs {due}"
    elif execution.reason:
        line += f" ({execution.reason})"
    click.echo(line)


@executions.command("cancel")
@click.argument("execution_id", type=int)
@click.option("--reason", help="Why, for the audit trail.")
def executions_cancel(execution_id, reason) -> None:
    """Stop an execution now.

    Its scheduled attempt is cancelled and nothing more is tried; a finished execution exits 2.
    """
    before = state_of(execution_id)
    service = recovery_service()
    ops.cancel(service, execution_id, actor=service.actor, reason=reason)
    click.echo(f"execution {execution_id}: {before} → cancelled (by {service.actor.name})")


def state_of(execution_id: int) -> str:
    with database() as session:
        state = session.scalar(select(Execution.state).where(Execution.id == execution_id))
    if state is None:
        raise NotFound(f"no execution {execution_id}")
    return state


def show_execution(execution_id: int, as_json: bool, *, dead_only: bool) -> None:
    with database() as session:
        execution = session.get(Execution, execution_id)
        if execution is None:
            raise NotFound(f"no {'dead letter' if dead_only else 'execution'} {execution_id}")
        if dead_only and execution.state != DEAD:
            raise NotFound(f"execution {execution_id} is {execution.state}, not a dead letter "
                           f"(see `medic executions show {execution_id}`)")
        attempts = store.attempts_of(session, execution_id)
        trail = store.audit_of(session, execution_id)
        event = store.event_of(session, execution)
    if as_json:
        emit_json({**execution_dict(execution, len(attempts), error_of(event)), "event": event,
                   "plan_spec": execution.plan, "attempts": [attempt_dict(a) for a in attempts],
                   "audit": [audit_dict(a) for a in trail]})
        return
    now = utcnow()
    next_at = execution.next_attempt_at
    emit_fields([("id", execution.id), ("state", execution.state), ("reason", execution.reason),
                 ("plan", execution.plan_name), ("step", step_text(execution)), ("run", execution.run),
                 ("service", execution.service), ("category", execution.category), ("error", error_of(event)),
                 ("error group", execution.group_id),
                 ("occurrence", execution.occurrence_id), ("replay of", execution.replay_of),
                 ("next attempt", f"{next_at:%Y-%m-%d %H:%M:%S} ({relative(next_at, now)})" if next_at else None),
                 ("last error", execution.last_error), ("created", execution.created_at),
                 ("updated", execution.updated_at), ("finished", execution.finished_at)])
    click.echo()
    emit_table(([a.id, a.run, f"{a.step_index + 1} {a.step_kind}", a.number, a.state, a.scheduled_for,
                 a.claimed_at, a.finished_at, a.outcome, a.error] for a in attempts),
               ["attempt", "run", "step", "no.", "state", "scheduled", "claimed", "finished", "outcome", "error"],
               empty="no attempts")
    click.echo()
    emit_table(([e.at, e.actor, e.action, _change(e), e.reason] for e in trail),
               ["at", "actor", "action", "from → to", "reason"], empty="no audit entries")


def _change(entry: AuditEntry) -> str | None:
    if entry.from_state is None and entry.to_state is None:
        return None
    return f"{entry.from_state or '-'} → {entry.to_state or '-'}"
