"""The FastAPI application of `medic serve`, built from settings."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import version

from fastapi import FastAPI, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import sessionmaker

from config.errors import InvalidTransition, NotFound, StorageUnavailable
from config.settings import Settings
from workers.api import (
    readiness,
    routes_alerts,
    routes_breakers,
    routes_events,
    routes_groups,
    routes_probes,
    routes_recovery,
)
from workers.api.bodies import BoundedBodies
from workers.api.ingestion import Ingestion
from workers.api.prometheus import MedicCollector
from workers.console import router as console
from workers.console.web import asset_url, refusal_page
from workers.masking import mask_text
from workers.messages import load_catalog
from workers.recovery.factory import build_recovery_service, celery_app_for
from workers.recovery.service import RecoveryService
from workers.recovery.store import Actor
from workers.storage.db import make_engine


def create_app(settings: Settings) -> FastAPI:
    """Fails (ConfigError) on invalid message templates, so a bad deployment stops at startup."""
    app = FastAPI(title="medic", version=version("medic"), docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Metrics, health probes, a JSON API over medic's database, and POST /api/events "
                              "for apps that report errors over HTTP. The operator console is at /ui.")
    app.state.settings = settings
    app.state.catalog = load_catalog(settings.messages)
    app.state.sessions = sessionmaker(make_engine(settings.database_url, pre_ping=True), expire_on_commit=False)
    app.state.probe_engine = readiness.probe_engine(settings.database_url, settings.serve.probe_timeout_s)
    app.state.registry = CollectorRegistry(auto_describe=False)
    app.state.registry.register(MedicCollector(settings, app.state.sessions))
    app.state.recovery_as = recovery_services(settings)
    app.state.recovery = lambda client: app.state.recovery_as(Actor(f"api:{client.name}"))
    app.state.ingestion = Ingestion(settings)
    for router in (routes_probes.router, routes_groups.router, routes_recovery.router, routes_alerts.router,
                   routes_events.router, routes_breakers.router):
        app.include_router(router)
    app.add_api_route("/api/docs", swagger_ui, include_in_schema=False, methods=["GET"])
    console.install(app)
    app.add_exception_handler(NotFound, _status(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(InvalidTransition, _status(status.HTTP_409_CONFLICT))
    app.add_exception_handler(StorageUnavailable, _status(status.HTTP_503_SERVICE_UNAVAILABLE))
    # Token and size checks before FastAPI reads a body (it parses bodies before running dependencies).
    app.add_middleware(BoundedBodies, serve=settings.serve)
    return app


def recovery_services(settings: Settings) -> Callable[[Actor], RecoveryService]:
    """The recovery service of one write, acting as `actor` (api:<token name>, ui:<token name>), sending on
    the broker of `settings`.

    The Celery app is built at the first write (a read-only deployment never needs one), then kept."""
    celery_app = cache(lambda: celery_app_for(settings))

    def recovery_service(actor: Actor) -> RecoveryService:
        return build_recovery_service(settings, actor=actor, celery_app=celery_app())

    return recovery_service


def swagger_ui() -> HTMLResponse:
    """The API's interactive docs, from the Swagger UI files medic ships (no CDN: works offline)."""
    return get_swagger_ui_html(openapi_url="/api/openapi.json", title="medic API",
                               swagger_js_url=asset_url("vendor/swagger-ui/swagger-ui-bundle.js"),
                               swagger_css_url=asset_url("vendor/swagger-ui/swagger-ui.css"),
                               swagger_favicon_url=asset_url("vendor/swagger-ui/favicon-32x32.png"))


def _status(code: int):
    async def handler(request: Request, exc: Exception) -> Response:
        if console.in_console(request):
            return refusal_page(request, code, mask_text(str(exc)))
        return JSONResponse({"detail": mask_text(str(exc))}, status_code=code)
    return handler
