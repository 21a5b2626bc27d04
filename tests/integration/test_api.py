"""`medic serve`'s application in-process (FastAPI's test client) on SQLite and PostgreSQL.

Rows are written by medic's own intake and recovery services (with a dispatcher that sends
nothing); the API is read over HTTP exactly as a client would.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from config.settings import load_settings
from tests.support.recovery import RecordingDispatcher, http_target, make_event
from workers.api.app import create_app
from workers.intake.service import IntakeService
from workers.maintenance.runner import run_job
from workers.recovery.service import RecoveryService
from workers.storage.db import session_factory
from workers.storage.models import Alert, Attempt, AuditEntry, ErrorGroup, Execution, Occurrence, RejectedEvent

pytestmark = pytest.mark.integration

READ_TOKEN = "read-token-0123456789abcdef"
WRITE_TOKEN = "write-token-0123456789abcdef"
TOKENS = {"grafana": {"token": READ_TOKEN, "access": "read"}, "oncall": {"token": WRITE_TOKEN, "access": "write"}}
SECRET = "sk_live_abcdefghijklmnop1234"


class World:
    def __init__(self, database_url: str, broker_url: str, **serve):
        self.settings = load_settings(database_url=database_url, broker_url=broker_url, breaker_store="database",
                                      serve={"tokens": TOKENS, "metrics_cache_s": 0, **serve})
        self.recovery = RecoveryService(self.settings, dispatcher=RecordingDispatcher(), rng=random.Random(1))
        self.intake = IntakeService(self.settings, recovery=self.recovery)
        self.sessions = session_factory(database_url)
        self.http = TestClient(create_app(self.settings), raise_server_exceptions=True)
        self._deliveries = 0

    def report(self, event) -> None:
        self._deliveries += 1
        self.intake.report(event, delivery_id=f"api-test-{self._deliveries}")

    def get(self, path: str, token: str | None = READ_TOKEN, **kwargs):
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        return self.http.get(path, headers=headers, **kwargs)

    def post(self, path: str, token: str = WRITE_TOKEN, **kwargs):
        return self.http.post(path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def scalar(self, query):
        with self.sessions() as session:
            return session.scalar(query)

    def rows(self, query):
        with self.sessions() as session:
            return session.execute(query).all()


def workload(world: World) -> None:
    """Two retryable groups with executions, one non-retryable group, a duplicate occurrence, two rejections."""
    world.report(make_event(http_target("http://127.0.0.1:9/orders"), service="orders", context={"api_key": SECRET}))
    world.report(make_event(http_target("http://127.0.0.1:9/orders"), service="orders"))
    world.report({"error_type": "requests.exceptions.HTTPError", "message": "429 Client Error: Too Many Requests",
                  "service": "github", "http_status": 429, "replay": http_target("http://127.0.0.1:9/gh")})
    world.report({"error_type": "ValueError", "message": "invalid literal for int() with base 10: 'x'",
                  "service": "billing", "operation": "parse"})
    world.report({"message": "no error_type"})
    world.report(["not", "an", "object"])


@pytest.fixture
def world(database_url, redis_url):
    return World(database_url, redis_url)


def test_the_api_needs_a_known_bearer_token(world):
    assert world.get("/api/groups", token=None).status_code == 401
    refused = world.get("/api/groups", token="wrong-token-0123456789abcdef")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert world.http.get("/api/groups", headers={"Authorization": READ_TOKEN}).status_code == 401  # no scheme
    assert world.get("/api/groups").status_code == 200
    assert world.http.get("/healthz").json() == {"status": "ok"}  # probes need no token


def test_without_tokens_the_api_is_disabled_and_says_so(database_url, redis_url):
    world = World(database_url, redis_url, tokens={})
    refused = world.get("/api/groups")
    assert refused.status_code == 401 and "MEDIC_SERVE__TOKENS" in refused.json()["detail"]


def test_groups_carry_triage_recovery_and_messages_per_audience_and_locale(world):
    workload(world)
    page = world.get("/api/groups").json()
    groups = {g["service"]: g for g in page["items"]}
    assert set(groups) == {"orders", "github", "billing"} and page["next_offset"] is None
    orders = groups["orders"]
    assert orders["count"] == 2 and orders["retryable"] is True
    assert orders["recovery"]["state"] in ("pending", "waiting", "running")
    assert groups["billing"]["recovery"] is None or groups["billing"]["retryable"] is False
    for group in groups.values():
        assert group["locale"] == "en"
        assert set(group["messages"]) >= {"end_user", "operator", "developer"}
        assert all(text.strip() for text in group["messages"].values())
        assert group["error_type"] not in group["messages"]["end_user"]  # internals are not for end users
    assert groups["github"]["error_type"] in groups["github"]["messages"]["developer"]

    german = world.get("/api/groups", params={"locale": "de-CH"}).json()["items"][0]
    assert german["locale"] == "de" and german["messages"]["end_user"] != page["items"][0]["messages"]["end_user"]
    french = world.get("/api/groups", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}).json()["items"][0]
    assert french["locale"] == "fr"
    assert world.get("/api/groups", params={"locale": "xx"}).json()["items"][0]["locale"] == "en"

    shown = world.get(f"/api/groups/{orders['id']}").json()
    assert [o["event"]["context"].get("api_key") for o in shown["occurrences"] if o["event"].get("context")] == ["***"]
    assert shown["executions"] and shown["executions"][0]["group_id"] == orders["id"]
    assert SECRET not in world.get(f"/api/groups/{orders['id']}").text
    assert world.get("/api/groups", params={"category": "rate_limit"}).json()["items"][0]["service"] == "github"
    missing = world.get("/api/groups/999999")
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]


def test_lists_are_paged_and_bad_parameters_are_named(world):
    workload(world)
    first = world.get("/api/groups", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    rest = world.get("/api/groups", params={"limit": 2, "offset": 2}).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    assert {g["id"] for g in first["items"]}.isdisjoint(g["id"] for g in rest["items"])
    bad = world.get("/api/groups", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.text
    assert world.get("/api/groups/not-a-number").status_code == 422
    unknown = world.get("/api/executions", params={"state": "sleeping"})
    assert unknown.status_code == 422 and "sleeping" in unknown.json()["detail"]


def test_executions_and_dead_letters(world):
    workload(world)
    executions = world.get("/api/executions").json()["items"]
    assert len(executions) == world.scalar(select(func.count()).select_from(Execution)) >= 2
    first = executions[-1]
    shown = world.get(f"/api/executions/{first['id']}").json()
    assert shown["attempts"] and shown["audit"] and shown["event"]["service"] == first["service"]
    assert world.get(f"/api/dead/{first['id']}").status_code == 404  # not dead

    with world.sessions() as session:
        session.execute(update(Execution).where(Execution.id == first["id"]).values(state="dead", reason="test"))
        session.commit()
    dead = world.get("/api/dead").json()["items"]
    assert [d["id"] for d in dead] == [first["id"]]
    assert world.get(f"/api/dead/{first['id']}").json()["state"] == "dead"
    assert [e["id"] for e in world.get("/api/executions", params={"state": "dead"}).json()["items"]] == [first["id"]]


def test_writes_need_allow_writes_and_a_write_token_and_are_audited(database_url, redis_url):
    read_only = World(database_url, redis_url)
    workload(read_only)
    execution_id = read_only.get("/api/executions").json()["items"][0]["id"]
    refused = read_only.post(f"/api/executions/{execution_id}/cancel", json={"reason": "x"})
    assert refused.status_code == 403 and "MEDIC_SERVE__ALLOW_WRITES" in refused.json()["detail"]

    writable = World(database_url, redis_url, allow_writes=True)
    assert writable.post(f"/api/executions/{execution_id}/cancel", token=READ_TOKEN).status_code == 403
    cancelled = writable.post(f"/api/executions/{execution_id}/cancel", json={"reason": "deploy rollback"})
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    actors = writable.rows(select(AuditEntry.actor, AuditEntry.reason).where(AuditEntry.execution_id == execution_id,
                                                                             AuditEntry.to_state == "cancelled"))
    assert actors == [("api:oncall", "deploy rollback")]
    again = writable.post(f"/api/executions/{execution_id}/cancel")
    assert again.status_code == 409  # already finished

    replayed = writable.post(f"/api/executions/{execution_id}/retry")
    assert replayed.status_code == 200 and replayed.json()["run"] == 2


def seed_alert(world: World, state: str = "open", rule: str = "queue_backlog", subject: str = "medic.errors") -> int:
    now = datetime.now(UTC)
    with world.sessions() as session:
        alert = Alert(rule=rule, subject=subject, state=state, level="error",
                      summary="12,000 messages waiting in medic.errors",
                      detail={"value": 12000, "threshold": 10000}, opened_at=now - timedelta(minutes=5),
                      last_seen_at=now,
                      resolved_at=now if state == "resolved" else None)
        session.add(alert)
        session.commit()
        return alert.id


def test_alerts_read_well_for_operators_and_can_be_acknowledged(database_url, redis_url):
    world = World(database_url, redis_url, allow_writes=True)
    open_id = seed_alert(world)
    resolved_id = seed_alert(world, state="resolved", rule="breaker_open", subject="partner")
    active = world.get("/api/alerts").json()["items"]
    assert [a["id"] for a in active] == [open_id]
    assert active[0]["messages"]["operator"].strip()
    assert {a["id"] for a in world.get("/api/alerts", params={"state": "all"}).json()["items"]} == {open_id,
                                                                                                    resolved_id}
    acknowledged = world.post(f"/api/alerts/{open_id}/acknowledge", json={"reason": "scaling workers"})
    assert acknowledged.status_code == 200
    assert acknowledged.json()["state"] == "acknowledged" and acknowledged.json()["acknowledged_by"] == "api:oncall"
    assert world.post(f"/api/alerts/{resolved_id}/acknowledge").status_code == 409
    assert world.get("/api/alerts/424242").status_code == 404


def test_api_health_is_the_newest_snapshot(world):
    none_yet = world.get("/api/health").json()
    assert none_yet["status"] == "unknown" and none_yet["stale"] is True
    outcome = run_job("health", world.settings, trigger="cli")
    assert outcome.run.status == "succeeded", outcome.run.error
    health = world.get("/api/health").json()
    assert health["status"] in ("healthy", "degraded") and health["stale"] is False
    assert isinstance(health["reasons"], list) and health["metrics"]["queue_depths"]


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_parse_as_prometheus_text_and_match_the_database(world):
    workload(world)
    response = world.http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    metrics = samples(response.text)

    occurrences = world.scalar(select(func.count()).select_from(Occurrence))
    rejected = world.scalar(select(func.count()).select_from(RejectedEvent))
    assert (occurrences, rejected) == (4, 2)
    assert metrics[("medic_events_received_total", (("outcome", "accepted"),))] == occurrences
    assert metrics[("medic_events_received_total", (("outcome", "rejected"),))] == rejected
    for category, severity, count in world.rows(select(Occurrence.category, Occurrence.severity, func.count())
                                                .group_by(Occurrence.category, Occurrence.severity)):
        assert metrics[("medic_occurrences_total", (("category", category), ("severity", severity)))] == count
    for status, count in world.rows(select(ErrorGroup.status, func.count()).group_by(ErrorGroup.status)):
        assert metrics[("medic_error_groups", (("status", status),))] == count
    for state, count in world.rows(select(Execution.state, func.count()).group_by(Execution.state)):
        assert metrics[("medic_executions", (("state", state),))] == count
    for outcome, count in world.rows(select(Attempt.outcome, func.count()).where(Attempt.outcome.is_not(None))
                                     .group_by(Attempt.outcome)):
        assert metrics[("medic_attempts_total", (("outcome", outcome),))] == count
    assert metrics[("medic_dead_letters", ())] == 0
    assert metrics[("medic_stuck_executions", ())] == 0
    assert metrics[("medic_queue_depth", (("queue", "medic.errors"),))] == 0
    for source in ("database", "broker", "breakers"):
        assert metrics[("medic_source_up", (("source", source),))] == 1


def test_metrics_say_which_source_is_down_and_still_answer(database_url):
    world = World(database_url, "redis://127.0.0.1:1/0")  # nothing listens there
    metrics = samples(world.http.get("/metrics").text)
    assert metrics[("medic_source_up", (("source", "broker"),))] == 0
    assert metrics[("medic_source_up", (("source", "database"),))] == 1
    assert not any(name == "medic_queue_depth" for name, _ in metrics)
    ready = world.http.get("/readyz")
    assert ready.status_code == 503 and set(ready.json()["problems"]) == {"broker"}
