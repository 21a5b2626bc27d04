"""POST /api/events: apps in any language report errors over HTTP (an ingest or write token).

The body is one event or a JSON array of them; each is decided as a worker decides it, then
published to medic.errors or stored directly (workers.api.ingest). The answer is 202 with what
became of each event, rejected ones included; 400/413/415 for a request medic cannot read, 429
over the token's rate, 503 when the events could go neither to the broker nor to the database.
MEDIC_SERVE__ALLOW_WRITES does not apply: reporting errors is not an operator action.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from config.errors import ConfigError
from workers.api.auth import Client, ingester
from workers.api.events_body import BodyProblem, check_content_type, raw_events
from workers.api.ingest import ACCEPTED, REJECTED, Unavailable
from workers.api.ingestion import Ingestion
from workers.api.rate_limit import retry_after_header
from workers.masking import mask_text

router = APIRouter(prefix="/api", tags=["intake"])

EVENTS_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "oneOf": [{"type": "object", "description": "One event (docs/contract.md)."},
                  {"type": "array", "items": {"type": "object"}, "description": "Events, in order."}]}}},
}


@router.post("/events", status_code=status.HTTP_202_ACCEPTED, openapi_extra={"requestBody": EVENTS_BODY},
             summary="Report errors: one event or an array of events (ingest or write token)")
async def post_events(request: Request, client: Client = Depends(ingester)) -> Any:
    ingestion: Ingestion = request.app.state.ingestion
    serve = request.app.state.settings.serve
    try:
        check_content_type(request.headers.get("content-type"))
    except BodyProblem as problem:
        return _problem(problem.status_code, problem.detail)
    waiting_s = ingestion.limiter.wait_s(client.name)
    if waiting_s > 0:  # refused before the body is read
        return _too_many(client, waiting_s)
    body = await request.body()  # capped by BoundedBodies (MEDIC_SERVE__INGEST_MAX_BODY_BYTES)
    try:
        raws = await run_in_threadpool(raw_events, body, max_events=serve.ingest_max_events)
    except BodyProblem as problem:
        return _problem(problem.status_code, problem.detail)
    waiting_s = ingestion.limiter.take(client.name, len(raws))
    if waiting_s > 0:
        return _too_many(client, waiting_s)
    try:
        items = await run_in_threadpool(ingestion.ingest, raws, client)
    except Unavailable as down:
        return JSONResponse({"detail": mask_text(down.detail), "published": [i.as_dict() for i in down.published]},
                            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})
    except ConfigError as exc:  # the rules or plans files: the workers would refuse to start on them too
        return _problem(status.HTTP_503_SERVICE_UNAVAILABLE, f"medic cannot classify events: {mask_text(str(exc))}")
    shown = [item.as_dict() for item in items]
    return JSONResponse({"accepted": sum(item.status == ACCEPTED for item in items),
                         "rejected": sum(item.status == REJECTED for item in items), "items": shown},
                        status_code=status.HTTP_202_ACCEPTED)


def _problem(code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code)


def _too_many(client: Client, waiting_s: float) -> JSONResponse:
    return JSONResponse({"detail": f"token {client.name!r} is over its rate of events "
                                   f"(MEDIC_SERVE__INGEST_RATE_PER_S, MEDIC_SERVE__INGEST_BURST_EVENTS): "
                                   f"try again in {waiting_s:.1f} s"},
                        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                        headers={"Retry-After": retry_after_header(waiting_s)})
