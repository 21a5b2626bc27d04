"""What the browser tests do on the console's pages, as an operator would: log in, open a page, read a form.

Hooks the pages give (docs/console.md): tables by `data-testid` (groups-table, executions-table,
dead-table, breakers-table, timeline, audit), rows by `data-id`, action buttons by their text.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from tests.support.browser import Screenshots

try:
    from playwright.sync_api import expect
except ImportError:  # the playwright_driver fixture fails every test first, naming what to install
    expect = None

# Every action button a write token sees somewhere and a read token nowhere.
ACTION_LABELS = ("Resolve", "Reopen", "Retry", "Cancel", "Replay", "Purge", "Replay all", "Purge all", "Acknowledge",
                 "Open", "Close", "Reset")
MAIN_PAGES = ("/ui", "/ui/groups", "/ui/executions", "/ui/dead", "/ui/breakers", "/ui/alerts", "/ui/maintenance",
              "/ui/backups")


def log_in(page: Any, token: str, *, next_path: str = "/ui", screenshots: Screenshots | None = None) -> None:
    """Through the login form, as a person does: the page lands on `next_path`."""
    page.goto(f"/ui/login?next={quote(next_path)}")
    page.get_by_label("API token").fill(token)
    if screenshots is not None:
        screenshots.take(page, "login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(next_path) + r"(\?.*)?$"))


def visit(page: Any, path: str, screenshots: Screenshots | None = None, *, name: str | None = None) -> Any:
    """GET `path` in the page; it must answer 200. Screenshots it when given `screenshots`."""
    response = page.goto(path)
    assert response is not None and response.status == 200, f"GET {path}: {response and response.status}"
    if screenshots is not None:
        screenshots.take(page, name)
    return response


def session_csrf(page: Any) -> str:
    """The CSRF token of the page's session (every page carries it in its logout form)."""
    return page.locator("form[action='/ui/logout'] input[name=csrf]").get_attribute("value")


def row(page: Any, table: str, row_id: int) -> Any:
    return page.locator(f"[data-testid={table}] [data-id='{row_id}']")


def action_button(scope: Any, label: str) -> Any:
    return scope.get_by_role("button", name=label, exact=True)


def action_url(scope: Any, label: str) -> str:
    """The URL a visible action button's form posts to."""
    form = scope.locator("form").filter(has=scope.page.get_by_role("button", name=label, exact=True))
    url = form.first.get_attribute("action")
    assert url, f"no form around the {label!r} button"
    return url
