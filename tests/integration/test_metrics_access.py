"""Issue 12, item 14: /metrics behind a bearer token when MEDIC_SERVE__METRICS_TOKEN is set (open when not), and
the services event senders name capped at MEDIC_SERVE__METRICS_MAX_SERVICES plus "other"."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from config.settings import load_settings
from workers.api.app import create_app
from workers.clock import utcnow
from workers.maintenance.health.metrics import reading_breakers
from workers.storage import migrate
from workers.storage.db import session_factory

pytestmark = pytest.mark.integration

METRICS_TOKEN = "metrics-token-0123456789abcdef"
API_TOKEN = "api-token-0123456789abcdef"


def client(tmp_path, **serve) -> TestClient:
    settings = load_settings(data_dir=tmp_path / "data", serve={"metrics_cache_s": 0, **serve})
    migrate.upgrade(settings.database_url)
    return TestClient(create_app(settings))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_metrics_are_open_by_default(tmp_path):
    answer = client(tmp_path).get("/metrics")
    assert answer.status_code == 200 and "medic_source_up" in answer.text


def test_a_metrics_token_closes_metrics_to_requests_without_it(tmp_path):
    http = client(tmp_path, metrics_token=METRICS_TOKEN, tokens={"grafana": {"token": API_TOKEN}})
    for headers in ({}, bearer("wrong-token-0123456789abcdef"), bearer(API_TOKEN), {"Authorization": METRICS_TOKEN}):
        refused = http.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "medic_" not in refused.text and METRICS_TOKEN not in refused.text
    answer = http.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert answer.status_code == 200 and "medic_source_up" in answer.text


def test_the_probes_stay_open_with_a_metrics_token(tmp_path):
    http = client(tmp_path, metrics_token=METRICS_TOKEN)
    assert http.get("/healthz").status_code == 200
    assert http.get("/readyz").status_code in (200, 503)


def test_many_services_of_senders_choosing_give_at_most_the_cap_plus_other(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", breaker_store="database",
                             serve={"metrics_cache_s": 0, "metrics_max_services": 5})
    migrate.upgrade(settings.database_url)
    sessions = session_factory(settings.database_url)
    breakers = reading_breakers(settings, sessions, clock=utcnow)
    for n in range(40):
        breakers.record_failure(f"sender-chosen-{n:02d}", probe=False)
    breakers.force_open("sender-chosen-39", actor="test")
    text = TestClient(create_app(settings)).get("/metrics").text
    series = [s for family in text_string_to_metric_families(text) if family.name == "medic_breaker_state"
              for s in family.samples]
    services = {s.labels["service"] for s in series}
    assert len(services) == 6 and "other" in services and "sender-chosen-39" in services
    others = {s.labels["state"]: s.value for s in series if s.labels["service"] == "other"}
    assert sum(others.values()) == 35
