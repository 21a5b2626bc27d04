"""/api/alerts and /api/health: what the health job found, worded for operators."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from config.errors import NotFound
from workers.api.auth import Client, reader, writer
from workers.api.ids import id_path
from workers.api.pages import Page, page
from workers.api.session import db
from workers.clock import utcnow
from workers.maintenance.health import alerts as alert_store
from workers.maintenance.health import snapshots
from workers.records import alert_dict
from workers.storage.models import Alert

router = APIRouter(prefix="/api", tags=["health"], dependencies=[Depends(reader)])
UNKNOWN = "unknown"


class Acknowledgement(BaseModel):
    reason: str | None = Field(None, max_length=2000, description="Why, recorded with the acknowledgement.")


@router.get("/alerts", summary="Alerts, newest first")
def list_alerts(request: Request, paging: Page = Depends(page),
                state: Literal["active", "open", "acknowledged", "resolved", "all"] = "active",
                locale: str | None = Query(None), accept_language: str | None = Header(None)) -> dict[str, Any]:
    states = {"active": alert_store.ACTIVE, "all": alert_store.STATES}.get(state, (state,))
    with db(request) as session:
        rows = list(session.scalars(select(Alert).where(Alert.state.in_(states))
                                    .order_by(Alert.opened_at.desc(), Alert.id.desc())
                                    .limit(paging.limit).offset(paging.offset)))
    return paging.wrap([worded(request, a, locale, accept_language) for a in rows])


@router.get("/alerts/{alert_id}", summary="One alert")
def show_alert(request: Request, alert_id: int = id_path("alert"), locale: str | None = Query(None),
               accept_language: str | None = Header(None)) -> dict[str, Any]:
    with db(request) as session:
        alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return worded(request, alert, locale, accept_language)


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an open alert (write access)")
def acknowledge_alert(request: Request, alert_id: int = id_path("alert"),
                      body: Acknowledgement = Body(default_factory=Acknowledgement),
                      client: Client = Depends(writer)) -> dict[str, Any]:
    with db(request) as session:
        alert, _ = alert_store.acknowledge(session, alert_id, actor=f"api:{client.name}", reason=body.reason,
                                           now=utcnow())
    return worded(request, alert, None, None)


@router.get("/health", summary="The status and reasons of the newest health snapshot")
def health(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    with db(request) as session:
        latest = snapshots.latest(session)
    if latest is None:
        return {"status": UNKNOWN, "stale": True, "taken_at": None, "age_s": None,
                "reasons": [{"text": "no health snapshot yet: is beat running the health job?"}], "metrics": None}
    age_s = (utcnow() - latest.taken_at).total_seconds()
    return {"status": latest.assessment.status, "stale": age_s > settings.health.stale_after_s,
            "taken_at": latest.taken_at, "age_s": round(age_s, 1),
            "reasons": [reason.to_dict() for reason in latest.assessment.reasons], "metrics": latest.metrics.to_dict()}


def worded(request: Request, alert: Alert, locale: str | None, accept_language: str | None) -> dict[str, Any]:
    data = alert_dict(alert)
    rendered = request.app.state.catalog.render_alert(data, locale=locale, accept_language=accept_language)
    return {**data, "locale": rendered.locale, "messages": rendered.messages}
