"""The FastAPI application of `medic serve`, built from settings."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import version

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import sessionmaker

from config.errors import InvalidTransition, NotFound, StorageUnavailable
from config.settings import Settings
from workers.api import readiness, routes_alerts, routes_events, routes_groups, routes_probes, routes_recovery
from workers.api.auth import Client
from workers.api.bodies import BoundedBodies
from workers.api.ingestion import Ingestion
from workers.api.prometheus import MedicCollector
from workers.masking import mask_text
from workers.messages import load_catalog
from workers.recovery.factory import build_recovery_service, celery_app_for
from workers.recovery.service import RecoveryService
from workers.recovery.store import Actor
from workers.storage.db import make_engine


def create_app(settings: Settings) -> FastAPI:
    """Fails (ConfigError) on invalid message templates, so a bad deployment stops at startup."""
    app = FastAPI(title="medic", version=version("medic"), docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Metrics, health probes, a JSON API over medic's database, and POST /api/events "
                              "for apps that report errors over HTTP.")
    app.state.settings = settings
    app.state.catalog = load_catalog(settings.messages)
    app.state.sessions = sessionmaker(make_engine(settings.database_url, pre_ping=True), expire_on_commit=False)
    app.state.probe_engine = readiness.probe_engine(settings.database_url, settings.serve.probe_timeout_s)
    app.state.registry = CollectorRegistry(auto_describe=False)
    app.state.registry.register(MedicCollector(settings, app.state.sessions))
    app.state.recovery = recovery_services(settings)
    app.state.ingestion = Ingestion(settings)
    for router in (routes_probes.router, routes_groups.router, routes_recovery.router, routes_alerts.router,
                   routes_events.router):
        app.include_router(router)
    app.add_exception_handler(NotFound, _status(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(InvalidTransition, _status(status.HTTP_409_CONFLICT))
    app.add_exception_handler(StorageUnavailable, _status(status.HTTP_503_SERVICE_UNAVAILABLE))
    # Token and size checks before FastAPI reads a body (it parses bodies before running dependencies).
    app.add_middleware(BoundedBodies, serve=settings.serve)
    return app


def recovery_services(settings: Settings) -> Callable[[Client], RecoveryService]:
    """The recovery service of one write, acting as api:<token name>, sending on the broker of `settings`.

    The Celery app is built at the first write (a read-only deployment never needs one), then kept."""
    celery_app = cache(lambda: celery_app_for(settings))

    def recovery_service(client: Client) -> RecoveryService:
        return build_recovery_service(settings, actor=Actor(f"api:{client.name}"), celery_app=celery_app())

    return recovery_service


def _status(code: int):
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": mask_text(str(exc))}, status_code=code)
    return handler
