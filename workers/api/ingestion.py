"""The ingestion of one `medic serve`: its rate limiter, and the ports `ingest.deliver` sends through.

The broker port publishes `medic.report` on medic's Celery app for these settings (the one the API's
writes use), with the short publish retries of medic_client; the database port stores through the
intake service as `medic report --direct` does (recovery included), acting as api:<token name>.
Both are built at the first event, so a deployment that ingests nothing never builds them.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from celery import Celery
from sqlalchemy import select

from config.errors import StorageUnavailable
from config.queues import INTAKE_QUEUE
from config.settings import Settings
from medic_client.events import TASK_NAME
from medic_client.sending import PUBLISH_RETRY_POLICY
from workers.api.auth import Client
from workers.api.ingest import BrokerDown, Item, Stored, deliver
from workers.api.rate_limit import RateLimiter
from workers.cli.broker import embedded_broker_file, is_initialised
from workers.intake.service import IntakeService
from workers.intake.store import Arrival
from workers.masking import mask_text
from workers.recovery.factory import build_recovery_service, celery_app_for
from workers.recovery.store import Actor
from workers.storage.db import guarded_session
from workers.storage.models import RejectedEvent

log = logging.getLogger("medic.api.ingest")

REASON_MAX_CHARS = 300


class Ingestion:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.limiter = RateLimiter(rate_per_s=settings.serve.ingest_rate_per_s,
                                   burst=settings.serve.ingest_burst_events)
        self.celery_app: Callable[[], Celery] = cache(lambda: celery_app_for(settings))
        self._services: dict[str, IntakeService] = {}
        self._lock = threading.Lock()

    def intake(self, client: Client) -> IntakeService:
        """The client's intake service (one per token: its recoveries are audited as api:<name>).
        Its rules and plans are compiled at its first event, then kept."""
        with self._lock:
            if client.name not in self._services:
                recovery = build_recovery_service(self.settings, actor=Actor(f"api:{client.name}"),
                                                  celery_app=self.celery_app())
                self._services[client.name] = IntakeService(self.settings, recovery=recovery)
            return self._services[client.name]

    def ingest(self, raws: Sequence[Any], client: Client) -> list[Item]:
        """Each event decided as a worker decides it, then published or stored (see ingest.deliver)."""
        service = self.intake(client)
        decisions = [service.decide(raw) for raw in raws]
        delivery_ids = [str(uuid.uuid4()) for _ in raws]
        return deliver(raws, decisions, delivery_ids=delivery_ids, ports=_Ports(self, service))


class _Ports:
    def __init__(self, ingestion: Ingestion, service: IntakeService):
        self.ingestion = ingestion
        self.service = service

    def publish(self, raw: Any, *, task_id: str) -> None:
        settings = self.ingestion.settings
        embedded = embedded_broker_file(settings.broker_url)
        if embedded is not None and not is_initialised(embedded):  # queued there, no worker would read it
            log.warning("events stored directly: the embedded broker %s is not initialised", embedded)
            raise BrokerDown()
        try:
            self.ingestion.celery_app().send_task(TASK_NAME, args=[raw], queue=INTAKE_QUEUE, task_id=task_id,
                                                  retry=True, retry_policy=PUBLISH_RETRY_POLICY)
        except Exception as exc:  # the broker or the network: the event goes to the database instead
            log.warning("events stored directly: the broker did not take one (%s)",
                        mask_text(f"{type(exc).__name__}: {exc}")[:REASON_MAX_CHARS])
            raise BrokerDown() from exc

    def store(self, arrivals: Sequence[Arrival]) -> dict[str, Stored]:
        outcomes = self.service.store(arrivals)
        rejected = [delivery_id for delivery_id, outcome in outcomes.items() if outcome.status == "rejected"]
        ids = self._rejection_ids(rejected)
        return {delivery_id: Stored(outcome, ids.get(delivery_id)) for delivery_id, outcome in outcomes.items()}

    def _rejection_ids(self, delivery_ids: list[str]) -> dict[str, int]:
        """The rejected_events rows just stored; {} if the database went away meanwhile (they are stored)."""
        if not delivery_ids:
            return {}
        try:
            with guarded_session(self.service.sessions) as session:
                rows = session.execute(select(RejectedEvent.delivery_id, RejectedEvent.id)
                                        .where(RejectedEvent.delivery_id.in_(delivery_ids)))
                return dict(rows.tuples().all())
        except StorageUnavailable:
            return {}
