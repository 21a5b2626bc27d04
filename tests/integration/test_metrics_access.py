"""Issue 12, item 14: /metrics behind a bearer token when MEDIC_SERVE__METRICS_TOKEN is set; open when not."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from config.settings import load_settings
from workers.api.app import create_app
from workers.storage import migrate

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
