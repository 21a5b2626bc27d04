"""One way to build the recovery service: its messages go to the broker of the settings it is given.

medic's module-level Celery app is built from the environment; the API and the maintenance jobs are
handed settings that may name another broker, and what they send must go there.
"""

from __future__ import annotations

import base64
import json
import random

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from config.queues import RECOVERY_QUEUE
from config.settings import load_settings
from tests.support.recovery import RecordingDispatcher, http_target, make_event
from workers.api.app import create_app
from workers.intake.service import IntakeService
from workers.recovery.dispatch import RUN_TASK
from workers.recovery.factory import build_recovery_service
from workers.recovery.service import RecoveryService
from workers.storage.db import session_factory
from workers.storage.models import Attempt, Execution

pytestmark = pytest.mark.integration

WRITE_TOKEN = "write-token-0123456789abcdef"


def environment_broker() -> str:
    from config import celery_app

    return celery_app.app.conf.broker_url


def test_the_service_sends_on_the_broker_of_its_settings(sqlite_url):
    from config import celery_app

    elsewhere = build_recovery_service(load_settings(database_url=sqlite_url, broker_url="memory://"))
    assert environment_broker() != "memory://"
    assert elsewhere.dispatcher.app.conf.broker_url == "memory://"

    here = build_recovery_service(load_settings(database_url=sqlite_url, broker_url=environment_broker()))
    assert here.dispatcher.app is celery_app.app  # the environment's own settings: no second app


def test_an_api_write_sends_on_the_broker_of_the_apis_settings_not_the_environments(sqlite_url, redis_url):
    settings = load_settings(database_url=sqlite_url, broker_url=redis_url, breaker_store="database",
                             serve={"tokens": {"oncall": {"token": WRITE_TOKEN, "access": "write"}},
                                    "allow_writes": True})
    assert settings.broker_url != environment_broker()
    recovery = RecoveryService(settings, dispatcher=RecordingDispatcher(), rng=random.Random(1))
    IntakeService(settings, recovery=recovery).report(make_event(http_target("http://127.0.0.1:9/orders")),
                                                      delivery_id="factory-test-1")
    with session_factory(sqlite_url)() as session:
        execution_id = session.scalar(select(Execution.id))
        attempt_id = session.scalar(select(Attempt.id).where(Attempt.execution_id == execution_id))

    api = TestClient(create_app(settings), raise_server_exceptions=True)
    retried = api.post(f"/api/executions/{execution_id}/retry", headers={"Authorization": f"Bearer {WRITE_TOKEN}"})
    assert retried.status_code == 200

    sent = [json.loads(raw) for raw in redis.Redis.from_url(redis_url).lrange(RECOVERY_QUEUE, 0, -1)]
    assert [(message["headers"]["task"], json.loads(base64.b64decode(message["body"]))[0]) for message in sent] == [
        (RUN_TASK, [attempt_id])]
