"""The shop's Celery app. Its whole integration with medic is the `install` line."""

from __future__ import annotations

from celery import Celery

import medic_client.celery
from config import settings

app = Celery("shop", broker=settings.BROKER_URL, include=["tasks"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_default_queue=settings.QUEUE,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)

# Every task that fails for good is reported to medic, as a failure of the payment gateway.
medic_client.celery.install(app, service="payment-gateway", broker_url=settings.MEDIC_BROKER_URL)
