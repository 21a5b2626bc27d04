"""`medic dead`: dead letters, the executions that ran out of steps; list, show, replay (one, or by
filter), retarget, purge."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from workers.cli.context import database, json_option, limit_option, parse_since
from workers.cli.output import emit_json, emit_table
from workers.cli.recovery import recovery_service, service_option, show_execution
from workers.clock import utcnow
from workers.records import execution_dict, executions_with_context
from workers.recovery import dead_listing
from workers.recovery import operator as ops
from workers.recovery.dead_filters import DeadFilter, moment_of
from workers.storage.models import Execution

# How many ids a confirmation or a summary names before "…".
PREVIEW_IDS = 10
# A bulk replay of more dead letters than this asks first (unless --yes); dead_replay's help says it too.
CONFIRM_ABOVE = 10
# A bulk replay of at least this many shows a progress bar (on a terminal).
PROGRESS_FROM = 20
# The most a --replay/--fallback @file may hold.
MAX_TARGET_FILE_BYTES = 1_000_000


def _moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return moment_of(value, now=utcnow())
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _target(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """JSON text, or @file holding it; parsed only (the target is checked by the operator's function)."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            if path.stat().st_size > MAX_TARGET_FILE_BYTES:
                raise click.BadParameter(f"{path} is over {MAX_TARGET_FILE_BYTES} bytes", ctx=ctx, param=param)
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"cannot read {path}: {exc}", ctx=ctx, param=param) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON ({exc}); give a JSON object or @file", ctx=ctx, param=param) from None


@click.group()
def dead() -> None:
    """Dead letters: list, show, replay, retarget, purge.

    A dead letter is an execution that ran out of steps, kept with its whole history until purged.
    """


def _filters(command):
    """--service, --category, --group, --since, --until: the selection of `dead list`, `replay` and `purge`."""
    for option in reversed([
        service_option,
        click.option("--category", help="Only dead letters of this category."),
        click.option("--group", "group_id", type=click.IntRange(min=1), help="Only dead letters of this error group."),
        click.option("--since", "died_after", callback=_moment, metavar="TIME",
                     help="Only those that died since TIME: 30m, 2h, 7d ago, or an ISO-8601 time."),
        click.option("--until", "died_before", callback=_moment, metavar="TIME",
                     help="Only those that died before TIME: 30m, 2h, 7d ago, or an ISO-8601 time.")]):
        command = option(command)
    return command


@dead.command("list")
@_filters
@limit_option
@json_option
def dead_list(service, category, group_id, died_after, died_before, limit, as_json) -> None:
    """List dead letters, most recent first."""
    selection = DeadFilter(service=service, category=category, group_id=group_id, died_after=died_after,
                           died_before=died_before)
    with database() as session:
        rows = executions_with_context(session, dead_listing.list_dead(session, selection, limit=limit))
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
@click.argument("execution_id", type=int, required=False)
@_filters
@click.option("--plan", "plan_name", help="Run this plan instead of the one the event would get now.")
@click.option("--again", is_flag=True, help="Replay dead letters replayed before too (skipped by default).")
@click.option("--limit", type=click.IntRange(min=1), help="Replay at most this many (the oldest deaths first).")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; change nothing.")
@click.option("--yes", "-y", is_flag=True, help=f"Do not ask for confirmation (asked above {CONFIRM_ABOVE}).")
@json_option
def dead_replay(execution_id, service, category, group_id, died_after, died_before, plan_name, again, limit, dry_run,
                yes, as_json) -> None:
    """Start a new execution for a dead letter, or for every dead letter the filters select.

    The plan is chosen again for the stored event, unless --plan names one; the dead letter stays
    as it is, with a `replayed` entry in its audit trail.

    With filters instead of an ID (--service, --category, --group, --since, --until; they combine
    with AND, times are when the execution died), every dead letter they select is replayed, oldest
    death first, each audited as a single replay. One replayed before is skipped unless --again, so
    the same command run twice replays nothing twice. --dry-run says what would be replayed. Above
    10 dead letters it asks first, unless --yes.
    """
    selection = DeadFilter(service=service, category=category, group_id=group_id, died_after=died_after,
                           died_before=died_before)
    if execution_id is not None:
        bulk_only = [name for name, given in (("--service", service), ("--category", category), ("--group", group_id),
                                              ("--since", died_after), ("--until", died_before), ("--again", again),
                                              ("--limit", limit), ("--dry-run", dry_run)) if given]
        if bulk_only:
            raise click.UsageError(f"give an ID or filters, not both ({', '.join(bulk_only)} with ID {execution_id})")
        _replay_one(execution_id, plan_name, as_json)
        return
    problem = selection.problem()
    if problem:
        raise click.UsageError(f"name the dead letters to replay: an ID, or filters (--service, --category, "
                               f"--group, --since, --until); {problem}")
    service_ = recovery_service()
    ops.named_plan(service_, plan_name)  # an unknown plan stops it before anything is counted
    planned = ops.plan_bulk_replay(service_, selection, again=again, limit=limit)
    if dry_run or not planned.to_replay:
        _print_bulk(planned if dry_run else replace(planned, dry_run=False), as_json)
        return
    count = len(planned.to_replay)
    if count > CONFIRM_ABOVE and not yes:
        click.confirm(f"Replay {_plural(count, 'dead letter')} ({_preview(planned.to_replay)})?", abort=True, err=True)
    if count >= PROGRESS_FROM and sys.stderr.isatty():
        with click.progressbar(length=count, label="replaying", file=sys.stderr) as bar:
            done = ops.replay_planned(service_, planned, actor=service_.actor, plan_name=plan_name, again=again,
                                      each=lambda: bar.update(1))
    else:
        done = ops.replay_planned(service_, planned, actor=service_.actor, plan_name=plan_name, again=again)
    _print_bulk(done, as_json)


def _replay_one(execution_id: int, plan_name: str | None, as_json: bool) -> None:
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


def _print_bulk(result: ops.BulkReplay, as_json: bool) -> None:
    if as_json:
        emit_json(result.as_dict())
        return
    matched = f"{_plural(result.matched, 'dead letter')} match ({result.selection.describe()})"
    if result.dry_run:
        lines = [f"{matched}; dry run, nothing replayed",
                 f"would replay {len(result.to_replay)}" + (f": {_preview(result.to_replay)}" if result.to_replay
                                                           else "")]
    else:
        pairs = ", ".join(f"{dead} as {new}" for dead, new in result.replayed[:PREVIEW_IDS])
        more = ", …" if len(result.replayed) > PREVIEW_IDS else ""
        lines = [matched, f"replayed {len(result.replayed)}" + (f": {pairs}{more}" if pairs else "")]
    if result.over_limit:
        lines.append(f"left {result.over_limit} for a later run (--limit)")
    if result.skipped:
        lines.append(f"skipped {len(result.skipped)}:")
        lines += [f"  {dead}: {why}" for dead, why in result.skipped[:PREVIEW_IDS]]
        if len(result.skipped) > PREVIEW_IDS:
            lines.append(f"  … and {len(result.skipped) - PREVIEW_IDS} more (--json lists them all)")
    click.echo("\n".join(lines))


@dead.command("retarget")
@click.argument("execution_id", type=int, required=False)
@click.option("--group", "group_id", type=click.IntRange(min=1), help="Every dead letter of this error group.")
@click.option("--replay", "replay", callback=_target, metavar="JSON|@FILE",
              help='The replay target, as JSON or @file: {"kind": "celery", "task": ..., "queue": ...}, '
                   '{"kind": "http", "url": ...} or {"kind": "action", "name": ...}.')
@click.option("--fallback", "fallback", callback=_target, metavar="JSON|@FILE",
              help="The fallback target (what a plan's fallback step calls), in the same form.")
@click.option("--dry-run", is_flag=True, help="Check the target and say what would change; change nothing.")
@json_option
def dead_retarget(execution_id, group_id, replay, fallback, dry_run, as_json) -> None:
    """Attach or replace the replay or fallback target of a dead letter (ID), or of every dead letter of
    an error group (--group), before replaying it.

    The target is checked now against the event contract and the allowlists (MEDIC_REPLAY_TARGETS__*,
    MEDIC_REPLAY_HTTP__ALLOW) a replay will be held to; it is stored masked, as intake stores events, in
    the dead letter's event, and the change (who, old and new target) goes into its audit trail. The next
    `medic dead replay` uses it. A dead letter whose error occurrence has an execution still going is
    left alone: that execution would call the new target mid-way.
    """
    if (execution_id is None) == (group_id is None):
        raise click.UsageError("name what to retarget: a dead letter's ID, or --group GROUP (not both)")
    targets = {field: value for field, value in (("replay", replay), ("fallback", fallback)) if value is not None}
    if not targets:
        raise click.UsageError("give the target to set: --replay JSON|@FILE, --fallback JSON|@FILE, or both")
    service = recovery_service()
    try:
        result = ops.retarget_dead(service, targets, actor=service.actor, execution_id=execution_id,
                                   group_id=group_id, dry_run=dry_run)
    except ops.TargetRejected as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{exc.field}") from None
    if as_json:
        emit_json(result.as_dict())
        return
    _print_retarget(result)


def _print_retarget(result: ops.Retargeted) -> None:
    did = "would retarget" if result.dry_run else "retargeted"
    lines = [f"{did} {_plural(len(result.changed), 'dead letter')}"
             + (" (dry run, nothing changed)" if result.dry_run else "")]
    for change in result.changed[:PREVIEW_IDS]:
        for field, target in change.changes.items():
            lines.append(f"  {change.dead_letter}: {field} target {ops.target_text(target['new'])} "
                         f"(was {ops.target_text(target['old'])})")
    if len(result.changed) > PREVIEW_IDS:
        lines.append(f"  … and {len(result.changed) - PREVIEW_IDS} more (--json lists them all)")
    if result.skipped:
        lines.append(f"skipped {len(result.skipped)}:")
        lines += [f"  {dead}: {why}" for dead, why in result.skipped[:PREVIEW_IDS]]
    if result.masked:
        lines.append(f"note: values of the {' and '.join(result.masked)} target looked like secrets and were stored "
                     "masked (***), as intake stores events; HTTP credentials belong in MEDIC_REPLAY_HTTP_HEADERS")
    if result.changed and not result.dry_run:
        lines.append("replay with `medic dead replay ID` (or by filter, e.g. --group)")
    click.echo("\n".join(lines))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _preview(ids) -> str:
    return ", ".join(str(i) for i in ids[:PREVIEW_IDS]) + (", …" if len(ids) > PREVIEW_IDS else "")


def _older_than(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    try:
        return parse_since(value)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, ctx=ctx, param=param) from None


@dead.command("purge")
@click.argument("ids", nargs=-1, type=int)
@_filters
@click.option("--older-than", callback=_older_than, metavar="AGE",
              help="Only dead letters that died more than AGE ago (30m, 12h, 7d) or before an ISO-8601 time.")
@click.option("--dry-run", is_flag=True, help="Say what would be purged; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
def dead_purge(ids, service, category, group_id, died_after, died_before, older_than, dry_run, yes, as_json) -> None:
    """Delete dead letters.

    Their attempts go with them; their audit trail is kept, with a `purged` entry. Give the IDS
    to purge, or filters (--service, --category, --group, --since, --until, --older-than), or both
    (they combine with AND). With neither, nothing is purged: there is no purge-everything by
    accident. Asks first, unless --yes.
    """
    selection = DeadFilter(service=service, category=category, group_id=group_id, died_after=died_after,
                           died_before=died_before)
    if not ids and selection.is_empty() and older_than is None:
        raise click.UsageError("name the dead letters to purge: give their IDS, filters, or --older-than AGE (e.g. 7d)")
    service_ = recovery_service()
    planned = ops.plan_purge(service_, ids=ids, selection=selection, finished_before=older_than)
    doomed = planned.to_purge
    if dry_run or not doomed:
        if as_json:
            emit_json(planned.as_dict())
        elif dry_run:
            shown = f": {_preview(doomed)}" if doomed else ""
            click.echo(f"would purge {_plural(len(doomed), 'dead letter')}{shown} (dry run, nothing purged)")
        else:
            click.echo("no dead letters to purge")
        return
    if not yes:
        many = len(doomed) > 1
        click.confirm(f"Purge {_plural(len(doomed), 'dead letter')} ({_preview(doomed)}) "
                      f"with {'their' if many else 'its'} attempts?", abort=True, err=True)
    purged = ops.purge_planned(service_, planned, actor=service_.actor).purged
    if as_json:
        emit_json({**planned.as_dict(), "dry_run": False, "purged": list(purged)})
        return
    click.echo(f"purged {_plural(len(purged), 'dead letter')}"
               + (f": {', '.join(str(i) for i in purged)}" if purged else "") + " (their audit trail is kept)")
