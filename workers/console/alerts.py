"""/ui/alerts: the health job's alerts by state, worded for operators (as GET /api/alerts), and acknowledging
one (the function POST /api/alerts/{id}/acknowledge and `medic alerts ack` call), audited as ui:<name>."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from workers.api.ids import id_path
from workers.api.routes_alerts import worded
from workers.api.session import db
from workers.clock import utcnow
from workers.console.web import ConsoleUser, actor, done, operator, render, viewer
from workers.maintenance.health import alerts as alert_store

router = APIRouter()
STATES = {"active": alert_store.ACTIVE, "open": (alert_store.OPEN,), "acknowledged": (alert_store.ACKNOWLEDGED,),
          "resolved": (alert_store.RESOLVED,), "all": alert_store.STATES}
SHOWN = 200
REASON_MAX_CHARS = 2000


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, state: Literal["active", "open", "acknowledged", "resolved", "all"] = "active",
                user: ConsoleUser = Depends(viewer)) -> HTMLResponse:
    with db(request) as session:
        rows = alert_store.list_alerts(session, states=STATES[state], limit=SHOWN)
    accept_language = request.headers.get("accept-language")
    return render(request, user, "alerts.html", partial="alerts_rows.html", state=state,
                  state_options=[(name, name) for name in STATES], shown=SHOWN,
                  alerts=[worded(request, alert, None, accept_language) for alert in rows])


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge(request: Request, alert_id: int = id_path("alert"),
                      user: ConsoleUser = Depends(operator)) -> RedirectResponse:
    form = await request.form()
    reason = str(form.get("reason") or "").strip()[:REASON_MAX_CHARS] or None
    with db(request) as session:
        alert, changed = alert_store.acknowledge(session, alert_id, actor=actor(user).name, reason=reason,
                                                 now=utcnow())
    message = (f"Alert {alert.id} ({alert.rule}: {alert.subject}) acknowledged." if changed else
               f"Alert {alert.id} was acknowledged already by {alert.acknowledged_by}: nothing changed.")
    return done(str(form.get("back") or "/ui/alerts"), message)
