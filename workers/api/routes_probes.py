"""Unauthenticated endpoints for orchestrators and Prometheus: /healthz, /readyz, /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from workers.api import readiness

router = APIRouter()


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database and the broker are reachable",
            responses={503: {"description": "the database or the broker cannot be reached"}})
def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    result = readiness.check(state.probe_engine, state.settings.broker_url, state.settings.serve.probe_timeout_s)
    body = {"status": "ready" if result.ready else "not ready", "problems": result.problems}
    return JSONResponse(body, status_code=200 if result.ready else 503)


@router.get("/metrics", summary="Prometheus metrics (text format)", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
