"""/api/executions and /api/dead: recovery executions and dead letters; operator actions when writes are allowed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from config.errors import NotFound
from workers.api.auth import Client, reader, writer
from workers.api.ids import id_path, id_query
from workers.api.pages import Page, page
from workers.api.session import db
from workers.records import attempt_dict, audit_dict, error_of, execution_dict, executions_with_context
from workers.recovery import operator as ops
from workers.recovery import store
from workers.recovery.states import DEAD, EXECUTION_STATES
from workers.storage.models import Execution

router = APIRouter(prefix="/api", tags=["recovery"], dependencies=[Depends(reader)])
ALL_STATES = ", ".join(EXECUTION_STATES)


class Why(BaseModel):
    reason: str | None = Field(None, max_length=2000, description="Why, for the audit trail.")


class Replay(BaseModel):
    plan: str | None = Field(None, description="Run this plan instead of the one the event would get now.")


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


@router.get("/dead", summary="Dead letters: executions that exhausted their plan")
def list_dead(request: Request, paging: Page = Depends(page), service: str | None = None) -> dict[str, Any]:
    return _list(request, paging, [DEAD], service, None)


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
