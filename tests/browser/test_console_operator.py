"""An operator with a write token in a real Chromium: log in, find an error, follow it, act on it, log out.

One medic per module (conftest.py): errors reported over HTTP and triaged by a real worker, dead
letters and an alert already there; every test logs in through the form itself and saves a
screenshot of each page it visits (MEDIC_SCREENSHOTS_DIR).
"""

from __future__ import annotations

import re
import time
import uuid

import httpx

from tests.browser import ui
from tests.browser.stack import BREAKER_SERVICE, DEAD_LETTER, PLAIN_ERROR, WRITE_TOKEN
from tests.browser.ui import expect

# Rows refresh every 5 s (htmx); the worker triages a report within a second.
LIVE_REFRESH_MS = 7000


def test_log_in_with_the_write_token_lands_on_the_page_asked_for(page, stack, seeded, screenshots):
    page.goto("/ui/groups")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=(/|%2F)ui(/|%2F)groups$"))
    ui.log_in(page, WRITE_TOKEN, next_path="/ui/groups", screenshots=screenshots)
    screenshots.take(page)
    nav = page.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link", name="Groups")).to_have_attribute("aria-current", "page")
    expect(page.locator("header .who")).to_contain_text("ops")
    expect(page.locator("header .who")).to_contain_text("write")


def test_a_wrong_token_is_refused_on_the_form(page, stack, seeded, screenshots):
    ui.visit(page, "/ui/login")
    page.get_by_label("API token").fill("not-a-token-of-this-server")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Unknown token")
    screenshots.take(page, "wrong-token")
    assert not [c for c in page.context.cookies() if c["name"] == "medic_session"]


def test_the_session_cookie_is_httponly_samesite_strict_and_scoped_to_the_console(page, stack, seeded):
    ui.log_in(page, WRITE_TOKEN)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "medic_session"]
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/ui")
    assert cookie["secure"] is False  # plain http here; Secure when served over https
    assert "medic_session" not in page.evaluate("document.cookie")  # scripts cannot read it


def test_a_reported_error_is_in_the_groups_list_and_its_group_page_opens(page, stack, seeded, screenshots):
    ui.log_in(page, WRITE_TOKEN, next_path="/ui/groups")
    screenshots.take(page)
    listed = ui.row(page, "groups-table", seeded.plain_group)
    expect(listed).to_contain_text(PLAIN_ERROR["service"])
    expect(listed).to_contain_text("ConnectionError")
    listed.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/ui/groups/{seeded.plain_group}$"))
    screenshots.take(page)
    main = page.locator("main")
    expect(main).to_contain_text(PLAIN_ERROR["message"])
    expect(main).to_contain_text("network")  # its category, as triage decided


def test_a_group_page_links_its_executions_and_an_execution_shows_its_timeline(page, stack, seeded, screenshots):
    ui.log_in(page, WRITE_TOKEN, next_path=f"/ui/groups/{seeded.dead_group}")
    screenshots.take(page)
    first = seeded.dead_letters[0]
    page.locator(f"a[href='/ui/executions/{first}']").first.click()
    expect(page).to_have_url(re.compile(rf"/ui/executions/{first}$"))
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_be_visible()
    # The bug plan's steps as they ran: the refused undo, the notification; then it died.
    expect(timeline.locator("> li")).to_have_count(2)
    expect(timeline.locator("> li").nth(0)).to_contain_text("compensate")
    expect(timeline.locator("> li").nth(0)).to_contain_text(
        "shop.undo_reservation is not in MEDIC_REPLAY_TARGETS__CELERY_TASKS")
    expect(timeline.locator("> li").nth(1)).to_contain_text("notify")
    expect(page.locator("main h1")).to_contain_text("dead")
    expect(page.get_by_test_id("audit")).to_be_visible()
    screenshots.take(page)


def test_replaying_a_dead_letter_from_the_ui_opens_the_new_execution(page, stack, seeded, screenshots):
    dead = seeded.dead_letters[1]
    ui.log_in(page, WRITE_TOKEN, next_path="/ui/dead")
    screenshots.take(page)
    listed = ui.row(page, "dead-table", dead)
    ui.action_button(listed, "Replay").click()

    page.wait_for_url(re.compile(r"/ui/executions/\d+$"))
    replay_id = int(page.url.rsplit("/", 1)[1])
    [replay] = stack.rows("SELECT id, replay_of FROM executions WHERE replay_of = :dead", dead=dead)
    assert replay_id == replay["id"] != dead
    expect(page.get_by_test_id("timeline")).to_be_visible()
    screenshots.take(page)
    actors = {r["actor"] for r in stack.rows("SELECT actor FROM execution_audit WHERE execution_id IN (:a, :b)",
                                             a=dead, b=replay_id)}
    assert "ui:ops" in actors, actors
    # The replay is in the executions list too.
    ui.visit(page, "/ui/executions", screenshots)
    expect(ui.row(page, "executions-table", replay_id)).to_be_visible()


def test_acknowledging_an_alert_from_the_ui(page, stack, seeded, screenshots):
    ui.log_in(page, WRITE_TOKEN, next_path="/ui/alerts")
    screenshots.take(page)
    alert = page.locator("tr", has_text="breaker_open").filter(has_text=BREAKER_SERVICE)
    alert.get_by_label(re.compile("Reason")).fill("partner is down for maintenance")
    ui.action_button(alert, "Acknowledge").click()
    expect(page.locator("main")).to_contain_text("ui:ops")
    screenshots.take(page, "acknowledged")
    [row] = stack.rows("SELECT state, acknowledged_by, acknowledged_reason FROM alerts WHERE id = :id", id=seeded.alert)
    assert row == {"state": "acknowledged", "acknowledged_by": "ui:ops",
                   "acknowledged_reason": "partner is down for maintenance"}


def test_logging_out_ends_the_session(page, stack, seeded, screenshots):
    ui.log_in(page, WRITE_TOKEN)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "medic_session"]
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/ui/login"))
    screenshots.take(page, "logged-out")
    assert not [c for c in page.context.cookies() if c["name"] == "medic_session"]
    page.goto("/ui/alerts")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    # The cookie's value, replayed from elsewhere after the logout, opens nothing either.
    replayed = httpx.get(f"{stack.base_url}/ui/alerts", cookies={"medic_session": cookie["value"]},
                         follow_redirects=False, timeout=5)
    assert replayed.status_code == 303 and "/ui/login" in replayed.headers["location"], replayed.status_code


def test_a_new_error_appears_in_the_open_groups_list_without_a_reload(page, stack, seeded, screenshots):
    ui.log_in(page, WRITE_TOKEN, next_path="/ui/groups")
    page.evaluate("window.__loaded_once = true")  # gone if the page reloads
    service = f"live-{uuid.uuid4().hex[:8]}"
    reported_at = time.monotonic()
    stack.report({**PLAIN_ERROR, "service": service})
    expect(page.get_by_test_id("groups-table")).to_contain_text(service, timeout=LIVE_REFRESH_MS)
    took_s = time.monotonic() - reported_at
    assert page.evaluate("window.__loaded_once") is True, "the page reloaded instead of refreshing its rows"
    screenshots.take(page, "live")
    print(f"the new group showed {took_s:.1f} s after it was reported")


def test_tab_reaches_the_nav_and_the_first_action_button(page, stack, seeded):
    ui.log_in(page, WRITE_TOKEN, next_path="/ui/dead")
    first_button = page.locator("main form.action button").first
    expect(first_button).to_be_visible()
    first_label = first_button.inner_text().strip()
    reached_nav = reached_button = False
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const e = document.activeElement;
            return {inNav: !!e.closest('nav'), tag: e.tagName, text: (e.innerText || '').trim(),
                    inMainForm: !!e.closest('main form.action'),
                    outline: getComputedStyle(e).outlineStyle, shadow: getComputedStyle(e).boxShadow}; }""")
        reached_nav = reached_nav or focused["inNav"]
        if focused["tag"] == "BUTTON" and focused["inMainForm"]:
            assert focused["text"] == first_label
            assert focused["outline"] != "none" or focused["shadow"] != "none", "no visible focus on the button"
            reached_button = True
            break
    assert reached_nav, "Tab never reached the navigation"
    assert reached_button, f"Tab never reached the first action button ({first_label!r})"


def test_resolving_and_reopening_a_group_from_its_page_is_audited_as_the_console_user(page, stack, seeded,
                                                                                      screenshots):
    group = seeded.plain_group
    ui.log_in(page, WRITE_TOKEN, next_path=f"/ui/groups/{group}")
    ui.action_button(page.locator("main"), "Resolve").click()
    expect(ui.action_button(page.locator("main"), "Reopen")).to_be_visible()
    screenshots.take(page, "resolved")
    assert stack.scalar("SELECT status FROM error_groups WHERE id = :g", g=group) == "resolved"
    ui.action_button(page.locator("main"), "Reopen").click()
    expect(ui.action_button(page.locator("main"), "Resolve")).to_be_visible()
    assert stack.scalar("SELECT status FROM error_groups WHERE id = :g", g=group) == "open"
    trail = stack.rows("SELECT actor, action, from_state, to_state FROM execution_audit "
                       "WHERE action LIKE 'group_%' ORDER BY id")
    assert [r for r in trail if r["actor"] == "ui:ops"] == [
        {"actor": "ui:ops", "action": "group_resolved", "from_state": "open", "to_state": "resolved"},
        {"actor": "ui:ops", "action": "group_open", "from_state": "resolved", "to_state": "open"}]


def test_replay_all_matching_names_how_many_then_replays_them(page, stack, seeded, screenshots):
    service = f"bulk-{uuid.uuid4().hex[:8]}"
    stack.report(*({**DEAD_LETTER, "service": service, "context": {"order": n}} for n in range(2)))
    dead = stack.dead_executions(stack.group_of(service=service), 2)
    ui.log_in(page, WRITE_TOKEN, next_path=f"/ui/dead?service={service}")
    expect(page.get_by_test_id("dead-matching")).to_have_text("2")
    screenshots.take(page, "filtered")
    page.get_by_role("button", name="Replay all 2 matching").click()
    expect(page.get_by_test_id("confirm-count")).to_contain_text("2 dead letters match")
    screenshots.take(page, "confirm")
    assert stack.rows("SELECT id FROM executions WHERE replay_of IN (:a, :b)", a=dead[0], b=dead[1]) == []
    ui.action_button(page.locator("main"), "Confirm").click()
    expect(page.locator(".flash")).to_contain_text("Replayed 2 of 2 matching dead letters")
    screenshots.take(page, "replayed")
    replays = stack.rows("SELECT replay_of FROM executions WHERE replay_of IN (:a, :b)", a=dead[0], b=dead[1])
    assert sorted(r["replay_of"] for r in replays) == dead


def test_purging_a_dead_letter_asks_first(page, stack, seeded, dialogs, screenshots):
    service = f"purge-{uuid.uuid4().hex[:8]}"
    stack.report({**DEAD_LETTER, "service": service})
    [dead] = stack.dead_executions(stack.group_of(service=service), 1)
    ui.log_in(page, WRITE_TOKEN, next_path=f"/ui/dead?service={service}")
    ui.action_button(ui.row(page, "dead-table", dead), "Purge").click()
    expect(page.locator(".flash")).to_contain_text(f"Dead letter {dead} purged")
    assert dialogs.seen == [("confirm", f"Purge dead letter {dead} with its attempts? Its audit trail is kept.")]
    expect(ui.row(page, "dead-table", dead)).to_have_count(0)
    screenshots.take(page, "purged")
    assert stack.rows("SELECT id FROM executions WHERE id = :d", d=dead) == []
