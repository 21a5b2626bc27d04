"""/api/executions and /api/dead: recovery executions and dead letters; operator actions when writes are allowed
(retry, cancel; a dead letter's replay, every one a filter selects, their retarget and purge)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from config.errors import NotFound
from workers.api.auth import Client, reader, writer
from workers.api.ids import MAX_ROW_ID, id_path, id_query
from workers.api.pages import Page, page
from workers.api.session import db
from workers.clock import utcnow
from workers.masking import mask_text
from workers.records import attempt_dict, audit_dict, error_of, execution_dict, executions_with_context
from workers.recovery import dead_listing, store
from workers.recovery import operator as ops
from workers.recovery.dead_filters import DeadFilter, moment_of
from workers.recovery.states import DEAD, EXECUTION_STATES
from workers.storage.models import Execution

router = APIRouter(prefix="/api", tags=["recovery"], dependencies=[Depends(reader)])
ALL_STATES = ", ".join(EXECUTION_STATES)


class Why(BaseModel):
    reason: str | None = Field(None, max_length=2000, description="Why, for the audit trail.")


class Replay(BaseModel):
    plan: str | None = Field(None, description="Run this plan instead of the one the event would get now.")


class DeadSelection(BaseModel):
    """Which dead letters to replay: the fields given combine with AND; at least one is needed."""

    model_config = ConfigDict(extra="forbid")
    service: str | None = Field(None, max_length=256, description="Only this service.")
    category: str | None = Field(None, max_length=64, description="Only this category.")
    group_id: int | None = Field(None, ge=1, le=MAX_ROW_ID, description="Only this error group.")
    since: str | None = Field(None, max_length=64, description="Died since: 30m, 2h, 7d ago, or an ISO-8601 time.")
    until: str | None = Field(None, max_length=64, description="Died before: 30m, 2h, 7d ago, or an ISO-8601 time.")
    plan: str | None = Field(None, max_length=128, description="Run this plan instead of the one chosen now.")
    again: bool = Field(False, description="Replay dead letters replayed before too (skipped by default).")
    limit: int | None = Field(None, ge=1, le=100_000, description="Replay at most this many, oldest deaths first.")
    dry_run: bool = Field(False, description="Say what would be replayed; change nothing.")


class DeadPurge(BaseModel):
    """Which dead letters to purge: ids, filter fields, or both (AND); at least one."""

    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]] = Field(
        [], max_length=10_000, description="These dead letters (each must be one).")
    service: str | None = Field(None, max_length=256, description="Only this service.")
    category: str | None = Field(None, max_length=64, description="Only this category.")
    group_id: int | None = Field(None, ge=1, le=MAX_ROW_ID, description="Only this error group.")
    since: str | None = Field(None, max_length=64, description="Died since: 30m, 2h, 7d ago, or an ISO-8601 time.")
    until: str | None = Field(None, max_length=64, description="Died before: 30m, 2h, 7d ago, or an ISO-8601 time.")
    older_than: str | None = Field(None, max_length=64, description="The same as until: died more than 7d ago, ...")
    dry_run: bool = Field(False, description="Say how many would be purged; change nothing.")


class TargetChange(BaseModel):
    """The targets to set, checked as `medic dead retarget` checks them; at least one."""

    model_config = ConfigDict(extra="forbid")
    replay: Any = Field(None, description="The replay target (the contract's celery, http or action target).")
    fallback: Any = Field(None, description="The fallback target, in the same form.")
    dry_run: bool = Field(False, description="Check the target and say what would change; change nothing.")


def _list(request: Request, paging: Page, states: list[str], service: str | None,
          group_id: int | None) -> dict[str, Any]:
    with db(request) as session:
        rows = store.list_executions(session, states=states, service=service, group_id=group_id,
                                     limit=paging.limit, offset=paging.offset)
        listed = executions_with_context(session, rows)
    return paging.wrap([execution_dict(e, n, error) for e, n, error in listed])


def _show(request: Request, execution_id: int, *, dead_only: bool) -> dict[str, Any]:
    with db(request) as session:
        execution = session.get(Execution, execution_id)
        if execution is None or (dead_only and execution.state != DEAD):
            raise NotFound(f"no {'dead letter' if dead_only else 'execution'} {execution_id}")
        attempts = store.attempts_of(session, execution_id)
        trail = store.audit_of(session, execution_id)
        event = store.event_of(session, execution)
    return {**execution_dict(execution, len(attempts), error_of(event)), "event": event,
            "attempts": [attempt_dict(a) for a in attempts], "audit": [audit_dict(a) for a in trail]}


@router.get("/executions", summary="Recovery executions, most recently changed first")
def list_executions(request: Request, paging: Page = Depends(page),
                    state: list[str] = Query([], description=f"Only these states: {ALL_STATES}."),
                    service: str | None = None, group_id: int | None = id_query("error group")) -> dict[str, Any]:
    unknown = sorted(set(state) - set(EXECUTION_STATES))
    if unknown:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"unknown state(s) {', '.join(unknown)}; states are {ALL_STATES}")
    return _list(request, paging, state, service, group_id)


@router.get("/executions/{execution_id}", summary="One execution with its attempts and audit trail")
def show_execution(request: Request, execution_id: int = id_path("execution")) -> dict[str, Any]:
    return _show(request, execution_id, dead_only=False)


@router.get("/dead", summary="Dead letters: executions that exhausted their plan, newest death first")
def list_dead(request: Request, paging: Page = Depends(page), service: str | None = None,
              category: str | None = None, group_id: int | None = id_query("error group"),
              since: str | None = Query(None, max_length=64, description="Died since: 30m, 2h, 7d ago, or ISO-8601."),
              until: str | None = Query(None, max_length=64, description="Died before: 30m, 2h, 7d ago, or ISO-8601."),
              ) -> dict[str, Any]:
    """Filtered as POST /api/dead/replay and /api/dead/purge select (here no filter is needed)."""
    selection = _filter(service, category, group_id, since, until)
    with db(request) as session:
        rows = dead_listing.list_dead(session, selection, limit=paging.limit, offset=paging.offset)
        listed = executions_with_context(session, rows)
    return paging.wrap([execution_dict(e, n, error) for e, n, error in listed])


@router.get("/dead/{execution_id}", summary="One dead letter with its attempts and audit trail")
def show_dead(request: Request, execution_id: int = id_path("dead letter")) -> dict[str, Any]:
    return _show(request, execution_id, dead_only=True)


@router.post("/executions/{execution_id}/retry", summary="Run the next attempt now (write access)")
def retry_execution(request: Request, execution_id: int = id_path("execution"), body: Why = Body(default_factory=Why),
                    client: Client = Depends(writer)) -> dict[str, Any]:
    return _act(request, client, ops.retry, execution_id, reason=body.reason)


@router.post("/executions/{execution_id}/cancel", summary="Stop an execution now (write access)")
def cancel_execution(request: Request, execution_id: int = id_path("execution"), body: Why = Body(default_factory=Why),
                     client: Client = Depends(writer)) -> dict[str, Any]:
    return _act(request, client, ops.cancel, execution_id, reason=body.reason)


@router.post("/dead/{execution_id}/replay", summary="Start a new execution for a dead letter (write access)")
def replay_dead(request: Request, execution_id: int = id_path("dead letter"),
                body: Replay = Body(default_factory=Replay),
                client: Client = Depends(writer)) -> dict[str, Any]:
    service = request.app.state.recovery(client)
    new_id = ops.replay_dead(service, execution_id, actor=service.actor, plan_name=body.plan)
    return _show(request, new_id, dead_only=False)


def _act(request: Request, client: Client, action, execution_id: int, **options: Any) -> dict[str, Any]:
    """An operator action on an execution, as the client's actor; answers with the execution after it."""
    service = request.app.state.recovery(client)
    action(service, execution_id, actor=service.actor, **options)
    return _show(request, execution_id, dead_only=False)


@router.post("/dead/replay", summary="Replay every dead letter a filter selects (write access)")
def replay_dead_matching(request: Request, body: DeadSelection, client: Client = Depends(writer)) -> dict[str, Any]:
    """Dead letters replayed before are skipped unless `again`: the same request twice replays nothing twice."""
    selection = _selection(body)
    service = request.app.state.recovery(client)
    ops.named_plan(service, body.plan)
    planned = ops.plan_bulk_replay(service, selection, again=body.again, limit=body.limit)
    if body.dry_run:
        return planned.as_dict()
    return ops.replay_planned(service, planned, actor=service.actor, plan_name=body.plan, again=body.again).as_dict()


@router.post("/dead/{execution_id}/target", summary="Set a dead letter's replay or fallback target (write access)")
def retarget_dead(request: Request, body: TargetChange, execution_id: int = id_path("dead letter"),
                  client: Client = Depends(writer)) -> dict[str, Any]:
    return _retarget(request, client, body, execution_id=execution_id)


@router.post("/groups/{group_id}/dead/target",
             summary="Set the replay or fallback target of every dead letter of an error group (write access)")
def retarget_group_dead(request: Request, body: TargetChange, group_id: int = id_path("error group"),
                        client: Client = Depends(writer)) -> dict[str, Any]:
    return _retarget(request, client, body, group_id=group_id)


def _selection(body: DeadSelection) -> DeadFilter:
    selection = _filter(body.service, body.category, body.group_id, body.since, body.until)
    problem = selection.problem()
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    return selection


def _filter(service: str | None, category: str | None, group_id: int | None, since: str | None,
            until: str | None) -> DeadFilter:
    now = utcnow()
    try:
        return DeadFilter(service=service or None, category=category or None, group_id=group_id,
                          died_after=moment_of(since, now=now) if since else None,
                          died_before=moment_of(until, now=now) if until else None)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post("/dead/purge", summary="Delete dead letters by id and/or filter (write access)")
def purge_dead(request: Request, body: DeadPurge, client: Client = Depends(writer)) -> dict[str, Any]:
    """Ids and filter fields combine with AND; at least one is needed (no purge-everything by accident). Their
    attempts go with them; the audit trail is kept, with a `purged` entry each. An id that is not a dead letter
    stops it (404 or 409): nothing is purged. `dry_run` answers how many would be purged."""
    if body.older_than and body.until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give until or older_than, not both")
    selection = _filter(body.service, body.category, body.group_id, body.since, body.until or body.older_than)
    service = request.app.state.recovery(client)
    planned = ops.plan_purge(service, ids=body.ids, selection=selection)
    if body.dry_run:
        return planned.as_dict()
    return ops.purge_planned(service, planned, actor=service.actor).as_dict()


def _retarget(request: Request, client: Client, body: TargetChange, **which: int) -> dict[str, Any]:
    targets = {field: value for field, value in (("replay", body.replay), ("fallback", body.fallback))
               if value is not None}
    if not targets:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give a replay or fallback target (or both)")
    service = request.app.state.recovery(client)
    try:
        return ops.retarget_dead(service, targets, actor=service.actor, dry_run=body.dry_run, **which).as_dict()
    except ops.TargetRejected as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, mask_text(str(exc))) from None
