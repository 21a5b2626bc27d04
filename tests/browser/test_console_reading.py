"""What the console shows, and what it refuses, in a real Chromium: read tokens, hostile event fields, phones.

Nothing here changes medic's state (a forged action is refused and checked to have changed nothing),
so the tests share one medic (conftest.py). Every page visited is screenshotted (MEDIC_SCREENSHOTS_DIR).
"""

from __future__ import annotations

import re

from tests.browser import ui
from tests.browser.stack import IMAGE, READ_TOKEN, SCRIPT, WRITE_TOKEN, XSS_EVENT
from tests.browser.ui import expect
from tests.support import browser


def test_a_read_token_sees_every_page_and_no_action_button(page, stack, seeded, screenshots):
    ui.log_in(page, READ_TOKEN)
    expect(page.locator("header .who")).to_contain_text("viewer")
    expect(page.locator("header .who")).to_contain_text("read only")
    for path in (*ui.MAIN_PAGES, f"/ui/groups/{seeded.dead_group}", f"/ui/executions/{seeded.dead_letters[0]}"):
        ui.visit(page, path, screenshots)
        expect(page.locator("main h1").first).to_be_visible()
        for label in ui.ACTION_LABELS:
            expect(ui.action_button(page.locator("main"), label)).to_have_count(0)
        expect(page.locator("main form[method=post]")).to_have_count(0)


def test_a_forged_post_with_the_read_sessions_csrf_is_refused(new_page, stack, seeded, screenshots):
    dead, alert = seeded.dead_letters[2], seeded.alert
    # The forms a write token gets: where the actions post to.
    operator = new_page()
    ui.log_in(operator, WRITE_TOKEN, next_path="/ui/dead")
    replay_url = ui.action_url(ui.row(operator, "dead-table", dead), "Replay")
    purge_url = ui.action_url(ui.row(operator, "dead-table", dead), "Purge")
    ui.visit(operator, "/ui/alerts")
    ack_url = ui.action_url(operator.locator("main"), "Acknowledge")
    assert ack_url == f"/ui/alerts/{alert}/acknowledge"

    viewer = new_page()
    ui.log_in(viewer, READ_TOKEN, next_path="/ui/dead")
    csrf = ui.session_csrf(viewer)
    for url in (replay_url, purge_url, ack_url):
        refused = viewer.request.post(url, form={"csrf": csrf}, max_redirects=0)
        assert refused.status == 403, f"POST {url} as viewer: {refused.status}"
    assert stack.rows("SELECT id FROM executions WHERE replay_of = :d", d=dead) == []
    assert stack.scalar("SELECT state FROM executions WHERE id = :d", d=dead) == "dead"
    assert stack.scalar("SELECT state FROM alerts WHERE id = :a", a=alert) == "open"
    # A write session's form without its CSRF token is refused too.
    no_csrf = operator.request.post(replay_url, form={}, max_redirects=0)
    assert no_csrf.status == 403
    assert stack.rows("SELECT id FROM executions WHERE replay_of = :d", d=dead) == []


def test_xss_payloads_are_shown_as_text(page, stack, seeded, screenshots, dialogs):
    ui.log_in(page, WRITE_TOKEN, next_path="/ui/groups")
    pages = {"/ui/groups": "groups-table", f"/ui/groups/{seeded.xss_group}": None,
             f"/ui/executions/{seeded.xss_execution}": "timeline", "/ui/dead": "dead-table",
             "/ui/executions": "executions-table"}
    for path, table in pages.items():
        ui.visit(page, path, screenshots)
        main = page.locator("main")
        expect(main).to_contain_text(XSS_EVENT["service"])  # the service, <img ...> and all, as text
        if table:
            expect(page.get_by_test_id(table)).to_be_visible()
        assert page.evaluate("typeof window.__xss") == "undefined", f"a payload ran on {path}"
        assert page.locator("main img[src=x], main script:not([src])").count() == 0, f"markup from an event on {path}"
    # The group page shows the message, the context and the traceback, each as the text reported.
    ui.visit(page, f"/ui/groups/{seeded.xss_group}")
    main = page.locator("main")
    expect(main).to_contain_text(f"bad order {SCRIPT}")  # the occurrence's message
    expect(main).to_contain_text(f"web{IMAGE}")
    expect(page.get_by_test_id("traceback").first).to_contain_text(f"KeyError: {SCRIPT}")
    expect(page.get_by_test_id("event").first).to_contain_text(SCRIPT)  # the context, in the event as stored
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert dialogs.seen == []


def test_swagger_ui_renders_offline(page, stack, screenshots):
    """/api/docs with every request that leaves this server refused: Swagger UI still renders the API."""
    local = re.compile(rf"^https?://127\.0\.0\.1:{stack.port}/")
    blocked: list[str] = []

    def only_local(route):
        if local.match(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    ui.visit(page, "/api/docs")
    expect(page.locator("#swagger-ui .swagger-ui .info .title")).to_contain_text("medic")
    expect(page.locator("#swagger-ui .opblock-summary-path", has_text="/api/groups").first).to_be_visible()
    screenshots.take(page, "api-docs")
    assert blocked == [], f"/api/docs asked for {blocked}"


def test_the_main_pages_fit_a_phone_and_a_desktop(new_page, stack, seeded, screenshots):
    """At 1280 px and at 390 px: each page answers, and only tables scroll sideways, never the page."""
    pages = (*ui.MAIN_PAGES, f"/ui/groups/{seeded.dead_group}", f"/ui/executions/{seeded.dead_letters[0]}")
    for viewport in (browser.DESKTOP, browser.PHONE):
        tab = new_page(viewport)
        ui.log_in(tab, WRITE_TOKEN)
        for path in pages:
            ui.visit(tab, path, screenshots)
            overflow = tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{path} at {viewport['width']} px is {overflow} px wider than the screen"


def test_search_and_filters_narrow_the_groups_list(page, stack, seeded, screenshots):
    ui.log_in(page, READ_TOKEN, next_path="/ui/groups")
    expect(ui.row(page, "groups-table", seeded.dead_group)).to_be_visible()
    page.get_by_role("searchbox").first.fill("refused by LEDGER")  # the message, in another case
    page.get_by_label("Category").select_option("network")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/ui/groups\?.*q=refused"))
    expect(ui.row(page, "groups-table", seeded.plain_group)).to_be_visible()
    expect(page.get_by_test_id("groups-table").locator("tr[data-id]")).to_have_count(1)
    screenshots.take(page, "searched")
    page.get_by_label("Category").select_option("internal")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("main")).not_to_contain_text("Connection refused by ledger")
