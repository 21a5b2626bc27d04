"""/ui/breakers: each service's circuit breaker (state, since, when an open one half-opens, settings, recent
transitions), as `medic breakers list` and GET /api/breakers show it (workers.breakers.views); open / close /
reset through workers.breakers.operations.operate with the recovery service's breakers, recorded as ui:<name>."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from workers.api.session import db
from workers.breakers import views
from workers.breakers.operations import ACTIONS, MAX_SERVICE_CHARS, operate
from workers.clock import utcnow
from workers.console.pages import common
from workers.console.web import ConsoleRefusal, ConsoleUser, done, operator, recovery, render, viewer

router = APIRouter()
TRANSITIONS_SHOWN = 5


@router.get("/breakers", response_class=HTMLResponse)
def breakers_page(request: Request, user: ConsoleUser = Depends(viewer)) -> HTMLResponse:
    source = views.source_of_app(request.app.state)
    with db(request) as session:
        rows = views.breaker_rows(session, source, now=utcnow(), transitions=TRANSITIONS_SHOWN)
    return render(request, user, "pages/breakers.html", partial="pages/breakers_rows.html", rows=rows)


@router.post("/breakers/{action}")
async def operate_breaker(request: Request, action: str, user: ConsoleUser = Depends(operator)) -> RedirectResponse:
    """The service comes in the form (a service name may hold any character, a slash too)."""
    if action not in ACTIONS:
        raise ConsoleRefusal(404, f"no breaker action {action!r}; actions are {', '.join(ACTIONS)}")
    form = await request.form()
    service = common.field(form, "service", MAX_SERVICE_CHARS + 1)
    if service is None:
        raise ConsoleRefusal(422, "service: name the service whose breaker to change")
    recovery_ = recovery(request, user)
    change = operate(recovery_.breakers, service, action, actor=recovery_.actor.name)
    return done("/ui/breakers", change.describe()[0].upper() + change.describe()[1:] + ".")
