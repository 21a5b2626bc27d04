"""/ui/executions: recovery executions filtered by state, service and group, live; /ui/executions/{id}: its plan,
its attempts as a timeline (waits, outcomes, errors, breaker deferrals), its audit trail and its event; retry /
cancel through workers.recovery.operator (ops.retry, ops.cancel), as the API and `medic executions` do."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from config.errors import NotFound
from workers.api.ids import id_path, id_query
from workers.api.session import db
from workers.console.pages import common, timeline
from workers.console.web import ConsoleRefusal, ConsoleUser, done, operator, recovery, render, viewer
from workers.records import error_of, executions_with_context, step_of
from workers.recovery import operator as ops
from workers.recovery import store
from workers.recovery.states import DEAD, EXECUTION_STATES, FINISHED, RUNNING, SUCCEEDED
from workers.storage.models import Execution

router = APIRouter()


@router.get("/executions", response_class=HTMLResponse)
def executions_page(request: Request, user: ConsoleUser = Depends(viewer),
                    state: list[str] = Query([]),
                    service: str = Query("", max_length=256), group: int | None = id_query("error group"),
                    offset: int = common.OFFSET) -> HTMLResponse:
    unknown = sorted(set(state) - set(EXECUTION_STATES))
    if unknown:
        raise ConsoleRefusal(422, f"unknown state(s) {', '.join(unknown)}; states are {', '.join(EXECUTION_STATES)}")
    with db(request) as session:
        rows = executions_with_context(session, store.list_executions(
            session, states=state, service=service or None, group_id=group, limit=common.PAGE_ROWS, offset=offset))
    params = {"state": state, "service": service, "group": group}
    return render(request, user, "pages/executions.html", partial="pages/executions_rows.html",
                  rows=rows, steps={e.id: step_of(e) for e, _, _ in rows}, params=params, states=EXECUTION_STATES,
                  offset=offset, limit=common.PAGE_ROWS, next_offset=common.next_offset(rows, offset),
                  filtered=bool(state or service or group),
                  page_url=lambda o: common.url("/ui/executions", {**params, "offset": o or None}))


@router.get("/executions/{execution_id}", response_class=HTMLResponse)
def execution_page(request: Request, execution_id: int = id_path("execution"),
                   user: ConsoleUser = Depends(viewer)) -> HTMLResponse:
    with db(request) as session:
        execution = session.get(Execution, execution_id)
        if execution is None:
            raise NotFound(f"no execution {execution_id}")
        attempts = store.attempts_of(session, execution_id)
        trail = store.audit_of(session, execution_id)
        event = store.event_of(session, execution)
    return render(request, user, "pages/execution.html", execution=execution, event=event,
                  event_json=common.pretty_json(event), error=error_of(event), step=step_of(execution),
                  steps=timeline.steps(execution.plan, -1 if execution.state in FINISHED else execution.step_index),
                  entries=timeline.entries(attempts, trail, started_at=execution.created_at), audit=trail,
                  can_retry=execution.state not in (SUCCEEDED, RUNNING), can_cancel=execution.state not in FINISHED,
                  is_dead=execution.state == DEAD)


@router.post("/executions/{execution_id}/retry")
async def retry(request: Request, execution_id: int = id_path("execution"),
                user: ConsoleUser = Depends(operator)) -> RedirectResponse:
    return await _act(request, user, execution_id, ops.retry, "retried")


@router.post("/executions/{execution_id}/cancel")
async def cancel(request: Request, execution_id: int = id_path("execution"),
                 user: ConsoleUser = Depends(operator)) -> RedirectResponse:
    return await _act(request, user, execution_id, ops.cancel, "cancelled")


async def _act(request: Request, user: ConsoleUser, execution_id: int, action, done_word: str) -> RedirectResponse:
    """An operator action on an execution as the console user, then back where the form came from."""
    form = await request.form()
    service = recovery(request, user)
    action(service, execution_id, actor=service.actor, reason=common.reason(form))
    return done(common.back(form, f"/ui/executions/{execution_id}"), f"Execution {execution_id}: {done_word}.")
