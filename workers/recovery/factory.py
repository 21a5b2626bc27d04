"""The one way medic's processes build the recovery service: its messages sent through Celery, on
the broker of the settings it is given (a worker, the CLI, the API, the stuck job)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from celery import Celery

from config.settings import Settings
from workers.clock import utcnow
from workers.recovery.dispatch import CeleryDispatcher
from workers.recovery.service import RecoveryService
from workers.recovery.store import Actor


def celery_app_for(settings: Settings) -> Celery:
    """medic's Celery app when it is on the broker of `settings`, else one built from `settings`.

    The module-level app is built from the environment at import; settings handed to the API or
    a maintenance job may name another broker, and their messages must go there."""
    from config import celery_app  # importing it builds the Celery app

    if celery_app.app.conf.broker_url == settings.broker_url:
        return celery_app.app
    return celery_app.create_app(settings)


def build_recovery_service(settings: Settings, *, actor: Actor | None = None,
                           clock: Callable[[], datetime] = utcnow, celery_app: Celery | None = None) -> RecoveryService:
    """A recovery service sending through `celery_app` (a task's own app), else through the app on the
    broker of `settings`. `actor`: who its changes are audited as (default: this worker process)."""
    app = celery_app if celery_app is not None else celery_app_for(settings)
    return RecoveryService(settings, dispatcher=CeleryDispatcher(app), clock=clock, actor=actor)
