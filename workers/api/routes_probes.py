"""Endpoints for orchestrators and Prometheus: /healthz and /readyz, always open, and /metrics, open unless
MEDIC_SERVE__METRICS_TOKEN is set (then a bearer token, Prometheus' `authorization: {credentials: ...}`)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

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


def metrics_allowed(expected: SecretStr | None, authorization: str | None) -> bool:
    """Whether a scrape may read /metrics: always without a metrics token, else with `Bearer <it>`."""
    if expected is None:
        return True
    scheme, _, presented = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(),
                                                              expected.get_secret_value().encode())


@router.get("/metrics", summary="Prometheus metrics (text format)", response_class=Response,
            responses={401: {"description": "MEDIC_SERVE__METRICS_TOKEN is set and the request does not carry it"}})
def metrics(request: Request) -> Response:
    if not metrics_allowed(request.app.state.settings.serve.metrics_token, request.headers.get("authorization")):
        return JSONResponse({"detail": "send `Authorization: Bearer <MEDIC_SERVE__METRICS_TOKEN>`"},
                            status_code=status.HTTP_401_UNAUTHORIZED,
                            headers={"WWW-Authenticate": 'Bearer realm="medic metrics"'})
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
