"""The operations the API shares with the CLI and the console: resolve / reopen a group, search groups,
breakers listed and operated, dead letters listed by filter and purged (by id or filter, with a dry run).

In-process (FastAPI's test client) on SQLite and PostgreSQL; executions seeded by medic's intake and
recovery services with a recording dispatcher, as in test_api and test_cli_recovery.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from config.settings import load_settings
from tests.support.recovery import RecordingDispatcher
from workers.api.app import create_app
from workers.intake import queries
from workers.intake.service import IntakeService
from workers.recovery.outcomes import permanent
from workers.recovery.service import RecoveryService
from workers.storage.db import session_factory
from workers.storage.models import Attempt, AuditEntry, BreakerTransition, ErrorGroup, Execution, Occurrence

pytestmark = pytest.mark.integration

READ_TOKEN = "read-token-0123456789abcdef"
WRITE_TOKEN = "write-token-0123456789abcdef"
TOKENS = {"grafana": {"token": READ_TOKEN, "access": "read"}, "oncall": {"token": WRITE_TOKEN, "access": "write"}}
# A bug gets the `bug` plan: compensate (refused here), notify, dead letter.
BUG = {"error_type": "KeyError", "message": "'sku'", "service": "shop",
       "compensate": {"kind": "celery", "task": "app.undo", "args": [1], "queue": "app"}}


class World:
    def __init__(self, database_url: str, broker_url: str, **serve):
        self.settings = load_settings(database_url=database_url, broker_url=broker_url, breaker_store="database",
                                      replay_targets={"celery_tasks": ["app.*"], "celery_queues": ["app"]},
                                      serve={"tokens": TOKENS, "allow_writes": True, **serve})
        self.recovery = RecoveryService(self.settings, dispatcher=RecordingDispatcher(), rng=random.Random(1))
        self.intake = IntakeService(self.settings, recovery=self.recovery)
        self.sessions = session_factory(database_url)
        self.http = TestClient(create_app(self.settings), raise_server_exceptions=True)
        self._deliveries = 0

    def report(self, event) -> int:
        self._deliveries += 1
        outcome = self.intake.report(event, delivery_id=f"ops-test-{self._deliveries}")
        with self.sessions() as session:
            return session.get_one(Occurrence, outcome.occurrence_id).group_id

    def dead_letter(self, **fields) -> int:
        self.report({**BUG, **fields})
        with self.sessions() as session:
            execution_id = session.scalar(select(Execution.id).order_by(Execution.id.desc()).limit(1))
            running = session.scalars(select(Attempt.id).where(Attempt.execution_id == execution_id,
                                                               Attempt.state == "running")).one()
        self.recovery.record(running, permanent("undo refused"))
        with self.sessions() as session:
            notify = session.scalars(select(Attempt.id).where(Attempt.execution_id == execution_id,
                                                              Attempt.state == "scheduled")).one()
        self.recovery.run(notify)
        return execution_id

    def get(self, path: str, token: str = READ_TOKEN, **kwargs):
        return self.http.get(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def post(self, path: str, token: str = WRITE_TOKEN, **kwargs):
        return self.http.post(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def rows(self, query):
        with self.sessions() as session:
            return session.execute(query).all()


@pytest.fixture
def world(database_url, redis_url):
    return World(database_url, redis_url)


def test_resolve_and_reopen_a_group_over_the_api_audited(world):
    group_id = world.report({"error_type": "KeyError", "message": "'customer_id'", "service": "billing"})
    assert world.post(f"/api/groups/{group_id}/resolve", token=READ_TOKEN).status_code == 403
    resolved = world.post(f"/api/groups/{group_id}/resolve", json={"reason": "fixed in 2.3"})
    assert resolved.status_code == 200
    assert resolved.json() == {"id": group_id, "status": "resolved", "previous": "open"}
    assert world.post(f"/api/groups/{group_id}/resolve").json()["previous"] == "resolved"  # already: no audit
    assert world.get("/api/groups", params={"status": "resolved"}).json()["items"][0]["id"] == group_id
    assert world.post(f"/api/groups/{group_id}/reopen").json() == {"id": group_id, "status": "open",
                                                                    "previous": "resolved"}
    assert world.rows(select(AuditEntry.actor, AuditEntry.action, AuditEntry.reason)
                      .where(AuditEntry.action.like("group_%")).order_by(AuditEntry.id)) == [
        ("api:oncall", "group_resolved", "fixed in 2.3"), ("api:oncall", "group_open", None)]
    missing = world.post("/api/groups/999999/resolve")
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]


def test_groups_are_searched_by_type_message_or_service_and_filtered_by_severity(world):
    world.report({"error_type": "KeyError", "message": "'customer_id' full% gone", "service": "billing"})
    world.report({"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused",
                  "service": "partner-api"})

    def found(**params):
        return sorted(g["service"] for g in world.get("/api/groups", params=params).json()["items"])

    assert found(q="keyerror") == ["billing"]
    assert found(q="REFUSED") == ["partner-api"]
    assert found(q="partner") == ["partner-api"]
    assert found(q="full%") == ["billing"] and found(q="ful_%") == []  # wildcards are literal
    assert found(q="nothing like it") == []
    severities = {g["service"]: g["severity"] for g in world.get("/api/groups").json()["items"]}
    assert found(severity=severities["billing"]) == sorted(s for s, v in severities.items()
                                                             if v == severities["billing"])
    assert world.get("/api/groups", params={"severity": "urgent"}).status_code == 422
    assert world.get("/api/groups", params={"q": "x" * 201}).status_code == 422
    bad_since = world.get("/api/groups", params={"since": "yesterday"})
    assert bad_since.status_code == 422 and "since" in bad_since.json()["detail"]
    assert found(since="1h") == ["billing", "partner-api"]


def test_hourly_counts_of_a_page_of_groups(world):
    group_id = world.report({"error_type": "KeyError", "message": "'a'", "service": "billing"})
    world.report({"error_type": "KeyError", "message": "'a'", "service": "billing"})
    now = datetime.now(UTC)
    with world.sessions() as session:
        occurrence = session.scalars(select(Occurrence).where(Occurrence.group_id == group_id)).first()
        occurrence.received_at = now - timedelta(hours=5, minutes=30)
        session.commit()
        counts = queries.hourly_counts(session, [group_id, 424242], now=now)
    assert len(counts[group_id]) == 24 and sum(counts[group_id]) == 2
    assert counts[group_id][-1] == 1 and counts[group_id][24 - 6] == 1
    assert counts[424242] == [0] * 24


def test_breakers_listed_and_operated_over_the_api(world):
    for _ in range(20):  # the default rate breaker opens once 20 calls are on record, 80 % of them failed
        world.recovery.breakers.record_failure("partner", probe=False)
    assert world.post("/api/breakers/billing/open", token=READ_TOKEN).status_code == 403
    opened = world.post("/api/breakers/billing/open")
    assert opened.status_code == 200 and opened.json()["after"] == "forced_open"
    assert "closed → forced_open" in opened.json()["message"]
    assert "already forced_open" in world.post("/api/breakers/billing/open").json()["message"]
    listed = {b["service"]: b for b in world.get("/api/breakers").json()}
    assert listed["billing"]["state"] == "forced_open" and listed["partner"]["state"] == "open"
    assert listed["partner"]["half_open_at"] and listed["partner"]["settings"]
    assert [(t["from_state"], t["to_state"], t["actor"]) for t in listed["billing"]["transitions"]] == [
        ("closed", "forced_open", "api:oncall")]
    assert {b["service"] for b in world.get("/api/breakers", params={"not_closed": True}).json()} == {
        "billing", "partner"}
    assert world.post("/api/breakers/billing/close").json()["after"] == "closed"
    assert "it was open" in world.post("/api/breakers/partner/reset").json()["message"]
    assert world.get("/api/breakers", params={"not_closed": True}).json() == []
    assert world.post("/api/breakers/partner/explode").status_code == 422
    assert world.get("/api/breakers", params={"transitions": 1000}).status_code == 422
    actors = world.rows(select(BreakerTransition.actor).where(BreakerTransition.service == "billing"))
    assert [a for (a,) in actors] == ["api:oncall", "api:oncall"]


def test_dead_letters_listed_by_filter_and_purged_by_id_or_filter(world):
    shop = [world.dead_letter(), world.dead_letter()]
    other = world.dead_letter(service="cart")
    by_service = world.get("/api/dead", params={"service": "cart"}).json()["items"]
    assert [d["id"] for d in by_service] == [other]
    assert len(world.get("/api/dead", params={"since": "1h"}).json()["items"]) == 3
    assert world.get("/api/dead", params={"until": "1h"}).json()["items"] == []
    assert world.get("/api/dead", params={"since": "soon"}).status_code == 422

    nothing = world.post("/api/dead/purge", json={})
    assert nothing.status_code == 409 and "refusing" in nothing.json()["detail"]
    assert world.post("/api/dead/purge", json={"ids": [424242]}).status_code == 404
    assert world.post("/api/dead/purge", json={"service": "shop"}, token=READ_TOKEN).status_code == 403
    assert world.post("/api/dead/purge", json={"until": "1h", "older_than": "1h"}).status_code == 422
    dry = world.post("/api/dead/purge", json={"service": "shop", "dry_run": True}).json()
    assert dry["dry_run"] is True and dry["matched"] == 2 and sorted(dry["to_purge"]) == shop and dry["purged"] == []
    assert len(world.get("/api/dead").json()["items"]) == 3  # a dry run changes nothing
    done = world.post("/api/dead/purge", json={"service": "shop"}).json()
    assert done["dry_run"] is False and sorted(done["purged"]) == shop
    assert world.post("/api/dead/purge", json={"ids": [other], "older_than": "1h"}).json()["purged"] == []
    assert world.post("/api/dead/purge", json={"ids": [other]}).json()["purged"] == [other]
    purges = world.rows(select(AuditEntry.actor, AuditEntry.detail).where(AuditEntry.action == "purged"))
    assert {actor for actor, _ in purges} == {"api:oncall"} and len(purges) == 3
    assert [d.get("bulk_filter") for _, d in purges if d["execution_id"] in shop] == [{"service": "shop"}] * 2
    with world.sessions() as session:
        assert session.scalar(select(ErrorGroup.id).limit(1)) is not None  # groups stay
