"""Fixtures of the console's browser tests: a real medic per module, driven by a real Chromium.

Per module (the browser suite must stay short): `stack`, medic's worker and serve on a database and
broker db of their own (tests/browser/stack.py), and `seeded`, what the module finds reported there;
`chromium`, one headless browser (tests/support/browser.py). Per test: a browser context at
1280x800 whose every wait gives up after DEFAULT_TIMEOUT_MS, the page's dialogs recorded (a
`confirm` is accepted, as an operator would), and its screenshots under MEDIC_SCREENSHOTS_DIR (CI
exports it) or the test's tmp dir; the page as the test left it is always saved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import ConsoleStack, Seeded, seed
from tests.support import browser

# Per test, the module's medic starting included (the first test of a module pays for it).
BROWSER_TIMEOUT_S = 120


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.integration)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(BROWSER_TIMEOUT_S))


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[ConsoleStack]:
    console = ConsoleStack(tmp_path_factory.mktemp("console"))
    try:
        yield console.start()
    finally:
        console.stop()


@pytest.fixture(scope="module")
def seeded(stack) -> Seeded:
    return seed(stack)


@pytest.fixture(scope="module")  # not the session: nothing of Playwright's outlives the browser modules
def playwright_driver():
    problem = browser.missing()
    if problem:
        pytest.fail(problem, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright_driver):
    launched = browser.launch(playwright_driver)
    try:
        yield launched
    finally:
        launched.close()


@dataclass
class Dialogs:
    """The dialogs a page opened: (type, message); a `confirm` is accepted, anything else dismissed."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    def handle(self, dialog: Any) -> None:
        self.seen.append((dialog.type, dialog.message))
        if dialog.type == "confirm":
            dialog.accept()
        else:
            dialog.dismiss()


@pytest.fixture
def screenshots(request, tmp_path) -> browser.Screenshots:
    return browser.Screenshots(browser.screenshots_root(tmp_path / "screenshots"), request.node.name)


@pytest.fixture
def dialogs() -> Dialogs:
    return Dialogs()


@pytest.fixture
def new_page(chromium, stack, dialogs, screenshots):
    """Opens pages, each in a context (cookies) of its own; the last state of each is screenshotted at the end."""
    from playwright.sync_api import expect

    expect.set_options(timeout=browser.DEFAULT_TIMEOUT_MS)
    contexts = []

    def open_page(viewport: dict[str, int] = browser.DESKTOP) -> Any:
        context = chromium.new_context(base_url=stack.base_url, viewport=viewport)
        context.set_default_timeout(browser.DEFAULT_TIMEOUT_MS)
        context.set_default_navigation_timeout(browser.DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        tab = context.new_page()
        tab.on("dialog", dialogs.handle)
        return tab

    yield open_page
    for context in contexts:
        for tab in context.pages:
            if tab.url.startswith("http"):
                try:
                    screenshots.take(tab, "last")
                except Exception as exc:  # a screenshot never fails a test
                    print(f"no last screenshot of {tab.url}: {exc!r}")
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()
