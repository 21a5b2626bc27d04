"""The operator console's framework and its Overview, Alerts, Maintenance and Backups pages, over HTTP.

`medic serve`'s app in-process (FastAPI's test client) on a real database: login and sessions, cookie
flags, CSRF, who may act, the audit of an action, escaping of hostile event fields, security headers,
and the offline Swagger UI. The browser tests (Playwright) are tests/browser.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from config.settings import Settings, load_settings
from tests.integration.test_api import READ_TOKEN, TOKENS, WRITE_TOKEN, World, seed_alert
from workers.api.app import create_app
from workers.console import sessions
from workers.maintenance import cleanup
from workers.maintenance.job import JobContext
from workers.maintenance.runner import run_job
from workers.storage.db import session_factory
from workers.storage.models import Alert, Backup, ConsoleLogout, HealthSnapshot, MaintenanceRun

pytestmark = pytest.mark.integration

INGEST_TOKEN = "ingest-token-0123456789abcdef"
XSS = '<script>alert("x")</script>'
XSS_ATTR = '"><img src=x onerror=alert(1)>'


def client(world: World, *, https: bool = False) -> TestClient:
    return TestClient(world.http.app, base_url="https://testserver" if https else "http://testserver",
                      follow_redirects=False)


def login_csrf(http: TestClient) -> str:
    page = http.get("/ui/login")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def log_in(http: TestClient, token: str, next_url: str = "/ui"):
    return http.post("/ui/login", data={"token": token, "csrf": login_csrf(http), "next": next_url})


def session_csrf(http: TestClient, path: str = "/ui") -> str:
    page = http.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


@pytest.fixture
def world(pg_database, redis_url):
    from tests.support import services

    return World(services.pg_url(pg_database), redis_url, allow_writes=True,
                 tokens={**TOKENS, "app": {"token": INGEST_TOKEN, "access": "ingest"}})


def test_pages_need_a_session_and_login_opens_one_with_safe_cookie_flags(world):
    http = client(world)
    away = http.get("/ui/alerts?state=all")
    assert away.status_code == 303 and away.headers["location"] == "/ui/login?next=%2Fui%2Falerts%3Fstate%3Dall"
    logged = log_in(http, READ_TOKEN, "/ui/alerts?state=all")
    assert logged.status_code == 303 and logged.headers["location"] == "/ui/alerts?state=all"
    cookie = logged.headers["set-cookie"]
    assert "medic_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace(
        "SameSite=Strict", "SameSite=strict") and "Path=/ui" in cookie and "Secure" not in cookie
    assert READ_TOKEN not in cookie
    assert http.get("/ui/alerts").status_code == 200
    assert "grafana" in http.get("/ui").text


def test_over_https_the_session_cookie_is_secure(world):
    http = client(world, https=True)
    assert "Secure" in log_in(http, READ_TOKEN).headers["set-cookie"]


def test_a_login_elsewhere_never_redirects_off_the_console(world):
    http = client(world)
    for target in ("https://evil.example/", "//evil.example/", "/api/groups", "/uix", "/ui\\@evil"):
        assert log_in(http, READ_TOKEN, target).headers["location"] == "/ui"
        http.cookies.clear()


def test_wrong_and_ingest_tokens_cannot_log_in_and_the_login_form_needs_its_csrf(world):
    http = client(world)
    wrong = log_in(http, "not-a-token-0123456789abcdef")
    assert wrong.status_code == 401 and "Unknown token" in wrong.text and "medic_session" not in wrong.headers.get(
        "set-cookie", "")
    ingest = log_in(http, INGEST_TOKEN)
    assert ingest.status_code == 403 and "ingest token" in ingest.text
    http.cookies.clear()
    forged = http.post("/ui/login", data={"token": WRITE_TOKEN, "csrf": "guessed", "next": "/ui"})
    assert forged.status_code == 403 and "medic_session" not in forged.headers.get("set-cookie", "")


def test_a_tampered_or_expired_session_or_a_rotated_token_ends_the_session(world):
    http = client(world)
    log_in(http, WRITE_TOKEN)
    good = http.cookies.get("medic_session")
    http.cookies.set("medic_session", good[:-2] + ("AA" if not good.endswith("AA") else "BB"), path="/ui")
    assert http.get("/ui").status_code == 303
    # The same cookie on a server whose token for that name changed: signed with the old key, refused.
    rotated = load_settings(database_url=world.settings.database_url, broker_url=world.settings.broker_url,
                            serve={"tokens": {"oncall": {"token": "another-token-0123456789abcdef",
                                                         "access": "write"}}})
    other = TestClient(create_app(rotated), follow_redirects=False)
    other.cookies.set("medic_session", good, path="/ui")
    assert other.get("/ui").status_code == 303
    short = load_settings(database_url=world.settings.database_url, broker_url=world.settings.broker_url,
                          serve={"tokens": TOKENS, "console_session_hours": 0.0001})  # 0.36 s
    expiring = TestClient(create_app(short), follow_redirects=False)
    expiring.cookies.set("medic_session", good, path="/ui")
    import time
    time.sleep(1.5)  # itsdangerous counts whole seconds
    assert expiring.get("/ui").status_code == 303


def test_logout_is_a_post_with_csrf_and_clears_the_cookie(world):
    http = client(world)
    log_in(http, READ_TOKEN)
    csrf = session_csrf(http)
    assert http.post("/ui/logout", data={}).status_code == 403
    assert http.get("/ui/logout").status_code == 405
    out = http.post("/ui/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert 'medic_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    http.cookies.delete("medic_session", path="/ui")
    assert http.get("/ui").status_code == 303


def replica(database_url: str, **serve) -> TestClient:
    """One more `medic serve` app on the same database (another replica), its own TestClient."""
    settings = load_settings(database_url=database_url, broker_url="memory://",
                             serve={"tokens": TOKENS, **serve})
    return TestClient(create_app(settings), follow_redirects=False)


def logouts(database_url: str) -> list[ConsoleLogout]:
    with session_factory(database_url)() as session:
        return list(session.scalars(select(ConsoleLogout)))


def test_logging_out_ends_the_session_on_every_replica_and_no_other(database_url):
    first, second, elsewhere = replica(database_url), replica(database_url), replica(database_url)
    log_in(first, WRITE_TOKEN)
    copied = first.cookies.get("medic_session")
    log_in(elsewhere, WRITE_TOKEN)  # the same token's other session
    second.cookies.set("medic_session", copied, path="/ui")
    assert second.get("/ui").status_code == 200
    csrf = session_csrf(first)

    assert first.post("/ui/logout", data={"csrf": csrf}).status_code == 303
    for server in (first, second):  # the copied cookie, on the replica that logged out and on another
        server.cookies.set("medic_session", copied, path="/ui")
        away = server.get("/ui/alerts")
        assert away.status_code == 303 and away.headers["location"] == "/ui/login?next=%2Fui%2Falerts"
        assert server.get("/ui/login").status_code == 200  # the login form, not a redirect to the console
        assert server.post("/ui/logout", data={"csrf": csrf}).status_code == 303  # to the login page
    assert elsewhere.get("/ui").status_code == 200

    [row] = logouts(database_url)
    assert row.token_name == "oncall" and row.session_hash == hashlib.sha256(csrf.encode()).hexdigest()
    assert csrf not in (row.session_hash, row.token_name)
    lifetime = row.expires_at - row.logged_out_at
    assert lifetime == timedelta(hours=load_settings(database_url=database_url).serve.console_session_hours)


def test_logging_out_twice_is_one_record(database_url):
    http = replica(database_url)
    log_in(http, READ_TOKEN)
    copied, csrf = http.cookies.get("medic_session"), session_csrf(http)
    assert http.post("/ui/logout", data={"csrf": csrf}).status_code == 303
    # A second logout of the same session (say two tabs): the session is gone already, so the login page.
    http.cookies.set("medic_session", copied, path="/ui")
    assert http.post("/ui/logout", data={"csrf": csrf}).headers["location"].startswith("/ui/login")
    session = sessions.read(load_settings(database_url=database_url, serve={"tokens": TOKENS}).serve, copied,
                            max_age_s=3600, logged_out=lambda key: False)
    with session_factory(database_url)() as db:  # and recorded again directly: still one row
        sessions.record_logout(db, session, now=datetime.now(UTC), lifetime_s=3600)
    assert len(logouts(database_url)) == 1


def test_without_the_database_a_session_is_not_trusted(tmp_path):
    """Whether a session was logged out cannot be known: no page on it, a 503 page saying why."""
    down = load_settings(database_url="postgresql+psycopg://medic@127.0.0.1:1/none", broker_url="memory://",
                         serve={"tokens": TOKENS})
    http = TestClient(create_app(down), follow_redirects=False)
    cookie, _ = sessions.issue(down.serve, "oncall")
    http.cookies.set("medic_session", cookie, path="/ui")
    for page in (http.get("/ui"), http.get("/ui/login"), http.post("/ui/logout", data={"csrf": "x"})):
        assert page.status_code == 503, page.text
        assert "database unavailable" in page.text and "Traceback" not in page.text


def test_cleanup_deletes_logouts_once_their_session_would_have_expired(database_url, tmp_path):
    now = datetime.now(UTC)
    with session_factory(database_url)() as db:
        for name, expires_in in (("gone", -timedelta(seconds=1)), ("stays", timedelta(hours=1))):
            db.add(ConsoleLogout(session_hash=hashlib.sha256(name.encode()).hexdigest(), token_name=name,
                                 logged_out_at=now - timedelta(hours=12), expires_at=now + expires_in))
        db.commit()
    settings = Settings(database_url=database_url, broker_url="memory://", data_dir=tmp_path)
    context = JobContext(settings=settings, sessions=session_factory(database_url), clock=lambda: now)
    assert cleanup.run(dataclasses.replace(context, dry_run=True)).counts["console_logouts"] == 1
    result = cleanup.run(context)
    assert result.counts["console_logouts"] == 1 and "console_logouts 1" in result.summary
    assert [row.token_name for row in logouts(database_url)] == ["stays"]
    assert "console_logouts" not in cleanup.run(context).counts  # none expired: not listed


def test_acknowledging_needs_csrf_and_write_access_and_is_audited_as_ui(world):
    alert_id = seed_alert(world)
    reader = client(world)
    log_in(reader, READ_TOKEN)
    page = reader.get("/ui/alerts")
    assert f"/ui/alerts/{alert_id}/acknowledge" not in page.text  # a read token sees no action
    refused = reader.post(f"/ui/alerts/{alert_id}/acknowledge", data={"csrf": session_csrf(reader)})
    assert refused.status_code == 403 and "read access" in refused.text

    writer = client(world)
    log_in(writer, WRITE_TOKEN)
    page = writer.get("/ui/alerts")
    assert f"/ui/alerts/{alert_id}/acknowledge" in page.text
    assert writer.post(f"/ui/alerts/{alert_id}/acknowledge", data={}).status_code == 403
    assert writer.post(f"/ui/alerts/{alert_id}/acknowledge", data={"csrf": "wrong"}).status_code == 403
    assert world.scalar(Alert.__table__.select().with_only_columns(Alert.state)) == "open"
    done = writer.post(f"/ui/alerts/{alert_id}/acknowledge",
                       data={"csrf": session_csrf(writer), "reason": "scaling workers", "back": "/ui/alerts?state=all"})
    assert done.status_code == 303 and done.headers["location"] == "/ui/alerts?state=all"
    with world.sessions() as session:
        alert = session.get(Alert, alert_id)
        assert (alert.state, alert.acknowledged_by, alert.acknowledged_reason) == (
            "acknowledged", "ui:oncall", "scaling workers")
    shown = writer.get("/ui/alerts?state=all")
    assert "acknowledged." in shown.text  # the flash, once
    assert "acknowledged." not in writer.get("/ui/alerts?state=all").text
    missing = writer.post("/ui/alerts/424242/acknowledge", data={"csrf": session_csrf(writer)})
    assert missing.status_code == 404 and "no alert 424242" in missing.text and "<html" in missing.text


def test_a_write_token_on_a_read_only_server_sees_no_actions(pg_database, redis_url):
    from tests.support import services

    world = World(services.pg_url(pg_database), redis_url)  # allow_writes false
    alert_id = seed_alert(world)
    http = client(world)
    log_in(http, WRITE_TOKEN)
    assert "/acknowledge" not in http.get("/ui/alerts").text
    refused = http.post(f"/ui/alerts/{alert_id}/acknowledge", data={"csrf": session_csrf(http)})
    assert refused.status_code == 403 and "MEDIC_SERVE__ALLOW_WRITES" in refused.text


def seed_hostile(world: World) -> None:
    now = datetime.now(UTC)
    world.report({"error_type": "ValueError", "message": XSS, "service": XSS_ATTR, "context": {"k": XSS}})
    with world.sessions() as session:
        session.add(Alert(rule="queue_backlog", subject=XSS, state="open", level="error", summary=XSS_ATTR,
                          detail={"value": 1, "threshold": 0}, opened_at=now, last_seen_at=now))
        session.add(MaintenanceRun(job="cleanup", trigger="<b>", host=XSS_ATTR, status="failed", started_at=now,
                                   finished_at=now, counts={}, summary=XSS, error=XSS_ATTR))
        session.add(Backup(name=XSS, path=XSS_ATTR, created_at=now, database_kind="postgresql", size_bytes=2048,
                           sha256="0" * 64, manifest={"medic_version": XSS}, verification="ok", verified_at=now,
                           verification_detail=XSS))
        session.add(HealthSnapshot(taken_at=now - timedelta(minutes=1), status="degraded",
                                   metrics={"window_s": 300, "queue_depths": {XSS: 3},
                                            "error_rate_per_min": {XSS_ATTR: 2.5, "network": 1.0},
                                            "open_breakers": {XSS: "open"}, "stuck_executions": 1234,
                                            "dead_letters": 7},
                                   reasons={"items": [{"metric": "x", "value": 1, "threshold": 0, "level": "warning",
                                                       "text": XSS}]}))
        session.commit()


@pytest.mark.parametrize("path", ["/ui", "/ui/", "/ui/alerts?state=all", "/ui/maintenance", "/ui/backups?deleted=true",
                                  "/ui/maintenance?job=cleanup"])
def test_each_page_answers_escapes_hostile_fields_and_sends_security_headers(world, path):
    seed_hostile(world)
    http = client(world)
    log_in(http, READ_TOKEN)
    page = http.get(path)
    assert page.status_code == 200, page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;" in page.text or "&#34;&gt;&lt;img" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    # No inline script or style (the CSP would block them anyway), and nothing from another host.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
    assert " style=" not in page.text and "<style" not in page.text
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)


def test_the_overview_shows_the_snapshot_rates_and_counts(world):
    seed_hostile(world)
    http = client(world)
    log_in(http, READ_TOKEN)
    page = http.get("/ui").text
    assert "degraded" in page and "1,234" in page and "<polyline" in page and "network" in page


def test_live_refresh_returns_only_the_fragment(world):
    seed_alert(world)
    http = client(world)
    log_in(http, READ_TOKEN)
    full = http.get("/ui/alerts")
    assert 'hx-trigger="every 5s"' in full.text and "<html" in full.text
    fragment = http.get("/ui/alerts", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and "queue_backlog" in fragment.text
    http.cookies.clear()
    expired = http.get("/ui/alerts", headers={"HX-Request": "true"})
    assert expired.status_code == 401 and expired.headers["hx-redirect"].startswith("/ui/login?next=")


def test_bad_query_values_are_named_on_a_page(world):
    http = client(world)
    log_in(http, READ_TOKEN)
    bad = http.get("/ui/alerts?state=nonsense")
    assert bad.status_code == 422 and "state" in bad.text and "<html" in bad.text and "Traceback" not in bad.text
    assert http.get("/ui/maintenance?limit=0").status_code == 422
    assert http.get("/ui/maintenance?job=nonexistent").status_code == 200


def test_maintenance_and_backups_show_what_the_cli_lists(world):
    assert run_job("health", world.settings, trigger="cli").run.status == "succeeded"
    http = client(world)
    log_in(http, READ_TOKEN)
    page = http.get("/ui/maintenance").text
    assert "health" in page and "succeeded" in page and "recovery-sweep" in page
    assert "No backups yet" in http.get("/ui/backups").text


def test_static_files_are_vendored_cached_and_the_api_docs_load_nothing_from_elsewhere(world):
    http = client(world)
    for asset in ("console.css", "console.js", "vendor/htmx/htmx.min.js", "vendor/swagger-ui/swagger-ui-bundle.js",
                  "vendor/swagger-ui/swagger-ui.css"):
        response = http.get(f"/ui/static/{asset}")
        assert response.status_code == 200, asset
        assert "max-age=31536000" in response.headers["cache-control"]
    docs = http.get("/api/docs")
    assert docs.status_code == 200 and "/ui/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert not re.findall(r"https?://(?!testserver)[^\"' ]+", docs.text)
    assert http.get("/api/openapi.json").status_code == 200
    assert "/ui" not in "".join(http.get("/api/openapi.json").json()["paths"])


def test_unknown_console_pages_are_pages_and_the_api_keeps_its_json(world):
    http = client(world)
    log_in(http, READ_TOKEN)
    missing = http.get("/ui/nowhere")
    assert missing.status_code == 404 and "<html" in missing.text and "there is no page at /ui/nowhere" in missing.text
    assert http.get("/ui/logout").status_code == 405
    assert http.get("/ui/static/nothing.css").status_code == 404
    api = http.get("/api/nowhere", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    assert world.get("/api/alerts/424242").json()["detail"] == "no alert 424242"
