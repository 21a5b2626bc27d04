"""The console's Error groups, Executions, Dead letters and Breakers pages over HTTP (FastAPI's test client).

`medic serve`'s app in-process on SQLite and PostgreSQL; rows written by medic's intake and recovery services
(a recording dispatcher; the console's own actions send on the run's Redis). Each page: filters, paging, the
live-refresh fragment, empty states, escaping of hostile event fields; each action: a POST with the session's
CSRF token, refused to a read token, audited as ui:<token name>. The browser tests are tests/browser.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.test_api_operations import READ_TOKEN, WRITE_TOKEN, World
from workers.storage.models import AuditEntry, BreakerTransition, ErrorGroup, Execution

pytestmark = pytest.mark.integration

XSS = '<script>alert("x")</script>'
XSS_ATTR = '"><img src=x onerror=alert(1)>'
HOSTILE = {"error_type": "KeyError", "message": f"'sku' {XSS}", "service": f"shop{XSS_ATTR}",
           "context": {"note": XSS}, "traceback": f"Traceback (most recent call last):\n  {XSS}\nKeyError: 'sku'",
           "compensate": {"kind": "celery", "task": "app.undo", "args": [1], "queue": "app"}}


@pytest.fixture
def world(database_url, redis_url):
    return World(database_url, redis_url)


def browser(world: World, token: str) -> TestClient:
    """A client logged in with `token` (the login form's double-submit CSRF, as a browser does)."""
    http = TestClient(world.http.app, follow_redirects=False)
    page = http.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert http.post("/ui/login", data={"token": token, "csrf": csrf, "next": "/ui/groups"}).status_code == 303
    return http


def csrf_of(page) -> str:
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def rows(page, table: str) -> list[str]:
    """The data-id of each row of the table with data-testid `table`."""
    body = re.search(rf'data-testid="{table}">(.*?)</tbody>', page.text, re.S)
    return re.findall(r'<tr data-id="([^"]+)"', body.group(1)) if body else []


def assert_escaped(text: str) -> None:
    assert XSS not in text and "<img src=x" not in text
    assert "&lt;script&gt;" in text


def test_pages_need_a_session(world):
    http = TestClient(world.http.app, follow_redirects=False)
    for path in ("/ui/groups", "/ui/groups/1", "/ui/executions", "/ui/executions/1", "/ui/dead", "/ui/breakers"):
        assert http.get(path).status_code == 303, path


def test_groups_are_listed_searched_filtered_paged_and_escaped(world):
    hostile = world.dead_letter(**{k: v for k, v in HOSTILE.items() if k != "compensate"})
    world.report({"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused",
                  "service": "partner"})
    http = browser(world, READ_TOKEN)
    page = http.get("/ui/groups")
    groups = rows(page, "groups-table")
    assert len(groups) == 2 and 'class="spark"' in page.text and "<html" in page.text
    assert_escaped(page.text)
    assert rows(http.get("/ui/groups", params={"q": "REFUSED"}), "groups-table") == [groups[0]]
    assert rows(http.get("/ui/groups", params={"q": "shop"}), "groups-table") == [groups[1]]
    assert rows(http.get("/ui/groups", params={"category": "network", "status": "open"}), "groups-table") == [
        groups[0]]
    nothing = http.get("/ui/groups", params={"q": "no such error"})
    assert rows(nothing, "groups-table") == [] and "No error groups match" in nothing.text
    live = http.get("/ui/groups", params={"q": "shop"}, headers={"HX-Request": "true"})
    assert live.status_code == 200 and "<html" not in live.text and rows(live, "groups-table") == [groups[1]]
    assert 'hx-trigger="every 5s"' in page.text
    bad = http.get("/ui/groups", params={"since": "yesterday"})
    assert bad.status_code == 422 and "since" in bad.text and "Traceback" not in bad.text
    assert http.get("/ui/groups", params={"severity": "urgent"}).status_code == 422
    with world.sessions() as session:
        assert session.get(Execution, hostile) is not None


def test_groups_are_paged(world, monkeypatch):
    from workers.console.pages import common

    monkeypatch.setattr(common, "PAGE_ROWS", 2)
    for n in range(3):
        world.report({"error_type": f"Error{n}", "message": "m", "service": "s"})
    http = browser(world, READ_TOKEN)
    first = http.get("/ui/groups")
    assert len(rows(first, "groups-table")) == 2 and 'rel="next"' in first.text
    second = http.get("/ui/groups", params={"offset": 2})
    assert len(rows(second, "groups-table")) == 1 and 'rel="prev"' in second.text


def test_a_group_page_shows_its_triage_occurrences_messages_executions_and_resolves(world):
    execution = world.dead_letter(**{k: v for k, v in HOSTILE.items() if k != "compensate"})
    with world.sessions() as session:
        group = session.get_one(Execution, execution).group_id
        rule = session.get_one(ErrorGroup, group).rule_id
    reader = browser(world, READ_TOKEN)
    page = reader.get(f"/ui/groups/{group}")
    assert page.status_code == 200 and rule in page.text and 'data-testid="traceback"' in page.text
    assert_escaped(page.text)
    assert rows(page, "executions-table") == [str(execution)]
    assert {"en", "de"} <= set(rows(page, "messages"))
    assert ">Resolve</button>" not in page.text  # a read token sees no buttons
    assert reader.post(f"/ui/groups/{group}/resolve", data={"csrf": csrf_of(page)}).status_code == 403

    writer = browser(world, WRITE_TOKEN)
    page = writer.get(f"/ui/groups/{group}")
    assert ">Resolve</button>" in page.text
    assert writer.post(f"/ui/groups/{group}/resolve", data={"csrf": "forged"}).status_code == 403
    resolved = writer.post(f"/ui/groups/{group}/resolve", data={"csrf": csrf_of(page), "reason": "fixed"})
    assert resolved.status_code == 303 and resolved.headers["location"] == f"/ui/groups/{group}"
    after = writer.get(f"/ui/groups/{group}")
    assert ">Reopen</button>" in after.text and f"Error group {group} is resolved now" in after.text
    assert writer.post(f"/ui/groups/{group}/reopen", data={"csrf": csrf_of(after)}).status_code == 303
    assert world.rows(select(AuditEntry.actor, AuditEntry.action, AuditEntry.reason)
                      .where(AuditEntry.action.like("group_%")).order_by(AuditEntry.id)) == [
        ("ui:oncall", "group_resolved", "fixed"), ("ui:oncall", "group_open", None)]
    missing = writer.get("/ui/groups/424242")
    assert missing.status_code == 404 and "424242" in missing.text


def test_executions_list_and_page_with_timeline_audit_retry_and_cancel(world):
    dead = world.dead_letter()
    world.report({"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused",
                  "service": "partner", "replay": {"kind": "celery", "task": "app.flaky", "queue": "app"}})
    http = browser(world, WRITE_TOKEN)
    listed = rows(http.get("/ui/executions"), "executions-table")
    assert len(listed) == 2 and str(dead) in listed
    assert rows(http.get("/ui/executions", params={"state": ["dead"]}), "executions-table") == [str(dead)]
    both = http.get("/ui/executions", params={"state": ["dead", "waiting", "running", "pending"]})
    assert len(rows(both, "executions-table")) == 2
    assert http.get("/ui/executions", params={"state": "sleeping"}).status_code == 422
    assert rows(http.get("/ui/executions", params={"service": "nobody"}), "executions-table") == []

    page = http.get(f"/ui/executions/{dead}")
    assert rows(page, "audit") and 'data-testid="timeline"' in page.text
    timeline = page.text.split('data-testid="timeline"')[1].split("</ol>")[0]
    assert "compensate" in timeline and "undo refused" in timeline and "notify" in timeline
    assert ">Retry</button>" in page.text and ">Replay</button>" in page.text and ">Cancel</button>" not in page.text
    retried = http.post(f"/ui/executions/{dead}/retry", data={"csrf": csrf_of(page), "reason": "try again"})
    assert retried.status_code == 303 and retried.headers["location"] == f"/ui/executions/{dead}"
    page = http.get(f"/ui/executions/{dead}")
    assert "retried" in page.text and ">Cancel</button>" in page.text
    cancelled = http.post(f"/ui/executions/{dead}/cancel", data={"csrf": csrf_of(page)})
    assert cancelled.status_code == 303
    again = http.post(f"/ui/executions/{dead}/cancel", data={"csrf": csrf_of(page)})
    assert again.status_code == 409 and "already cancelled" in again.text
    actions = world.rows(select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.execution_id == dead,
                                                                           AuditEntry.actor.like("ui:%")))
    assert [a for _, a in actions if a != "scheduled"] == ["restarted", "cancelled"]
    assert {a for a, _ in actions} == {"ui:oncall"}
    assert http.get("/ui/executions/424242").status_code == 404


def test_dead_letters_replayed_and_purged_one_or_all_matching_after_a_confirmation(world):
    shop = [world.dead_letter(), world.dead_letter()]
    cart = world.dead_letter(service="cart")
    http = browser(world, WRITE_TOKEN)
    page = http.get("/ui/dead")
    assert sorted(rows(page, "dead-table")) == sorted(str(i) for i in [*shop, cart])
    assert "Replay all" not in page.text  # bulk needs a filter
    page = http.get("/ui/dead", params={"service": "shop"})
    assert sorted(rows(page, "dead-table")) == sorted(str(i) for i in shop) and "Replay all 2 matching" in page.text
    assert http.get(f"/ui/dead/{cart}").headers["location"] == f"/ui/executions/{cart}"

    replayed = http.post(f"/ui/dead/{cart}/replay", data={"csrf": csrf_of(page)})
    assert replayed.status_code == 303
    new_id = int(replayed.headers["location"].rsplit("/", 1)[1])
    with world.sessions() as session:
        assert session.get_one(Execution, new_id).replay_of == cart

    confirm = http.get("/ui/dead/confirm", params={"action": "replay", "service": "shop"})
    assert confirm.status_code == 200 and ">Confirm</button>" in confirm.text
    assert re.search(r'data-testid="confirm-count">2 dead letters match; <strong>2</strong>', confirm.text)
    done = http.post("/ui/dead/replay", data={"csrf": csrf_of(confirm), "service": "shop"})
    assert done.status_code == 303 and done.headers["location"] == "/ui/dead?service=shop"
    assert "Replayed 2 of 2 matching" in http.get(done.headers["location"]).text
    assert "<strong>0</strong>" in http.get("/ui/dead/confirm", params={"action": "replay", "service": "shop"}).text

    purge = http.get("/ui/dead/confirm", params={"action": "purge", "service": "shop"})
    assert '<strong>2</strong> dead letters would be purged' in purge.text
    purged = http.post("/ui/dead/purge", data={"csrf": csrf_of(purge), "service": "shop"})
    assert "Purged 2 dead letters" in http.get(purged.headers["location"]).text
    one = http.post(f"/ui/dead/{cart}/purge", data={"csrf": csrf_of(purge), "back": "/ui/dead?service=cart"})
    assert one.headers["location"] == "/ui/dead?service=cart"
    assert rows(http.get("/ui/dead"), "dead-table") == [] and "No dead letters" in http.get("/ui/dead").text
    purges = world.rows(select(AuditEntry.actor).where(AuditEntry.action == "purged"))
    assert [a for (a,) in purges] == ["ui:oncall"] * 3
    assert http.post("/ui/dead/purge", data={"csrf": csrf_of(purge)}).status_code == 422  # no filter: refused
    assert http.get("/ui/dead/confirm", params={"action": "purge"}).status_code == 422

    reader = browser(world, READ_TOKEN)
    page = reader.get("/ui/dead", params={"service": "shop"})
    assert ">Replay</button>" not in page.text
    assert reader.post("/ui/dead/replay", data={"csrf": csrf_of(page), "service": "shop"}).status_code == 403


def test_breakers_page_opens_closes_and_resets(world):
    for _ in range(20):  # the default rate breaker opens once 20 calls are on record, 80 % of them failed
        world.recovery.breakers.record_failure("partner", probe=False)
    http = browser(world, WRITE_TOKEN)
    page = http.get("/ui/breakers")
    assert rows(page, "breakers-table") == ["partner"] and "half" in page.text.lower()
    opened = http.post("/ui/breakers/open", data={"csrf": csrf_of(page), "service": f"billing{XSS}"})
    assert opened.status_code == 303
    page = http.get("/ui/breakers")
    assert_escaped(page.text)
    assert sorted(rows(page, "breakers-table")) == sorted([f"billing{XSS}".replace("<", "&lt;").replace(">", "&gt;")
                                                          .replace('"', "&#34;"), "partner"])
    assert http.post("/ui/breakers/close", data={"csrf": csrf_of(page), "service": "partner"}).status_code == 303
    reset = http.post("/ui/breakers/reset", data={"csrf": csrf_of(page), "service": f"billing{XSS}"})
    assert reset.status_code == 303
    assert http.post("/ui/breakers/explode", data={"csrf": csrf_of(page), "service": "x"}).status_code == 404
    assert http.post("/ui/breakers/open", data={"csrf": csrf_of(page)}).status_code == 422
    actors = world.rows(select(BreakerTransition.actor, BreakerTransition.to_state)
                        .where(BreakerTransition.actor.like("ui:%")).order_by(BreakerTransition.id))
    assert actors == [("ui:oncall", "forced_open"), ("ui:oncall", "closed"), ("ui:oncall", "closed")]
    reader = browser(world, READ_TOKEN)
    page = reader.get("/ui/breakers")
    assert ">Open</button>" not in page.text and ">Reset</button>" not in page.text
    assert reader.post("/ui/breakers/open", data={"csrf": csrf_of(page), "service": "x"}).status_code == 403


def test_empty_pages_say_so(world):
    http = browser(world, READ_TOKEN)
    assert "No errors reported yet" in http.get("/ui/groups").text
    assert "No executions yet" in http.get("/ui/executions").text
    assert "No dead letters" in http.get("/ui/dead").text
    assert "No circuit breakers yet" in http.get("/ui/breakers").text
