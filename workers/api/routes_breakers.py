"""/api/breakers: circuit breakers per service (as `medic breakers list`); open / close / reset (write access)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from workers.api.auth import Client, reader, writer
from workers.api.session import db
from workers.breakers import views
from workers.breakers.operations import MAX_SERVICE_CHARS, operate
from workers.clock import utcnow

router = APIRouter(prefix="/api/breakers", tags=["breakers"], dependencies=[Depends(reader)])

SERVICE_PATH = Path(min_length=1, max_length=MAX_SERVICE_CHARS, description="The service the breaker guards.")


@router.get("", summary="Every circuit breaker with its state, settings and recent transitions")
def list_breakers(request: Request,
                  transitions: int = Query(views.TRANSITIONS, ge=0, le=views.MAX_TRANSITIONS,
                                           description="Recent transitions per breaker, newest first."),
                  not_closed: bool = Query(False, description="Only breakers not closed now.")) -> list[dict[str, Any]]:
    """The state is as the next call would find it: an open breaker past its recovery timeout is half_open
    (`probe_due`). A breaker is listed once stored (its service's first replay) or configured in a plans file."""
    source = views.source_of_app(request.app.state)
    with db(request) as session:
        return views.breaker_rows(session, source, now=utcnow(), transitions=transitions, not_closed_only=not_closed)


@router.post("/{service}/{action}", summary="Open, close or reset a service's breaker (write access)")
def operate_breaker(request: Request, action: Literal["open", "close", "reset"], service: str = SERVICE_PATH,
                    client: Client = Depends(writer)) -> dict[str, Any]:
    """open: forced open, nothing reaches the service until closed or reset; close: closed with no failures on
    record (the work deferred behind it is released); reset: forgotten, the next call finds a fresh closed one.
    Recorded with actor api:<token name> in the breaker's transitions, and notified, as the CLI's are."""
    recovery = request.app.state.recovery(client)
    return operate(recovery.breakers, service, action, actor=recovery.actor.name).as_dict()
