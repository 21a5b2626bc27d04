"""`medic dead`: dead letters, the executions that ran out of steps; list, show, replay, purge."""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.errors import InvalidTransition, NotFound
from workers.cli.context import database, json_option, limit_option, parse_since
from workers.cli.output import emit_json, emit_table
from workers.cli.recovery import listed, recovery_service, service_option, show_execution
from workers.records import execution_dict
from workers.recovery import operator as ops
from workers.recovery.states import DEAD
from workers.storage.models import Execution

# How many ids a purge confirmation names before summarising.
_PREVIEW_IDS = 10


@click.group()
def dead() -> None:
    """Dead letters: list, show, replay, purge.

    A dead letter is an execution that ran out of steps, kept with its whole history until purged.
    """


@dead.command("list")
@service_option
@limit_option
@json_option
def dead_list(service, limit, as_json) -> None:
    """List dead letters, most recent first."""
    rows = listed([DEAD], service, None, limit)
    if as_json:
        emit_json([execution_dict(e, n, error) for e, n, error in rows])
        return
    emit_table(([e.id, e.finished_at, e.plan_name, e.service, e.category, n, e.replay_of, error, e.last_error]
                for e, n, error in rows),
               ["id", "dead since", "plan", "service", "category", "attempts", "replay of", "error",
                "last attempt error"],
               empty="no dead letters")


@dead.command("show")
@click.argument("execution_id", type=int)
@json_option
def dead_show(execution_id, as_json) -> None:
    """Show one dead letter with its attempts and audit trail."""
    show_execution(execution_id, as_json, dead_only=True)


@dead.command("replay")
@click.argument("execution_id", type=int)
@click.option("--plan", "plan_name", help="Run this plan instead of the one the event would get now.")
@json_option
def dead_replay(execution_id, plan_name, as_json) -> None:
    """Start a new execution for a dead letter.

    The plan is chosen again for the stored event, unless --plan names one; the dead letter stays
    as it is, with a `replayed` entry in its audit trail.
    """
    service = recovery_service()
    new_id = ops.replay_dead(service, execution_id, actor=service.actor, plan_name=plan_name)
    with database() as session:
        execution = session.get_one(Execution, new_id)
    if as_json:
        emit_json({"execution_id": new_id, "replay_of": execution_id, "plan": execution.plan_name,
                   "state": execution.state})
        return
    click.echo(f"dead letter {execution_id} replayed as execution {new_id} "
               f"(plan {execution.plan_name}, {execution.state})")


def _older_than(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    try:
        return parse_since(value)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, ctx=ctx, param=param) from None


@dead.command("purge")
@click.argument("ids", nargs=-1, type=int)
@click.option("--older-than", callback=_older_than, metavar="AGE",
              help="Only dead letters that died more than AGE ago (30m, 12h, 7d) or before an ISO-8601 time.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def dead_purge(ids, older_than, yes) -> None:
    """Delete dead letters.

    Their attempts go with them; their audit trail is kept, with a `purged` entry. Give the IDS
    to purge, or --older-than, or both (those ids, if old enough). With neither, nothing is
    purged: there is no purge-everything by accident. Asks first, unless --yes.
    """
    if not ids and older_than is None:
        raise click.UsageError("name the dead letters to purge: give their IDS, or --older-than AGE (e.g. 7d)")
    with database() as session:
        doomed = _purgeable(session, list(ids), older_than)
    if not doomed:
        click.echo("no dead letters to purge")
        return
    if not yes:
        shown = ", ".join(str(i) for i in doomed[:_PREVIEW_IDS]) + (", …" if len(doomed) > _PREVIEW_IDS else "")
        many = len(doomed) > 1
        click.confirm(f"Purge {len(doomed)} dead letter{'s' if many else ''} ({shown}) "
                      f"with {'their' if many else 'its'} attempts?", abort=True, err=True)
    service = recovery_service()
    purged = ops.purge_dead(service, actor=service.actor, ids=doomed, finished_before=older_than)
    click.echo(f"purged {len(purged)} dead letter{'s' if len(purged) != 1 else ''}"
               + (f": {', '.join(str(i) for i in purged)}" if purged else "") + " (their audit trail is kept)")


def _purgeable(session: Session, ids: list[int], finished_before: datetime | None) -> list[int]:
    """The dead letters a purge would delete; an id that names no dead letter stops it first."""
    if ids:
        found = dict(session.execute(select(Execution.id, Execution.state).where(Execution.id.in_(ids))).tuples().all())
        for execution_id in ids:
            if execution_id not in found:
                raise NotFound(f"no execution {execution_id}; nothing purged")
            if found[execution_id] != DEAD:
                raise InvalidTransition(f"execution {execution_id} is {found[execution_id]}, not dead: only dead "
                                        f"letters are purged; nothing purged")
    query = select(Execution.id).where(Execution.state == DEAD).order_by(Execution.id)
    if ids:
        query = query.where(Execution.id.in_(ids))
    if finished_before is not None:
        query = query.where(Execution.finished_at < finished_before)
    return list(session.scalars(query))
