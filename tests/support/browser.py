"""Debian's chromium driven by Playwright (Python), for the console's browser tests (tests/browser).

Playwright's own browser download cannot be used here (no internet beyond the package registries):
the browser is Debian's `chromium` package (/usr/bin/chromium; .ci/run installs it), passed to
Playwright as its executable. `launch` gives it a fresh temporary profile (Playwright's
`launch`, not a persistent context), headless, and the flags that keep it from calling Google
(background networking, component updates, sync) and from needing a sandbox (tests run as root).
A missing browser or Playwright fails the test with what to install: the browser tests never skip.

`Screenshots` saves full-page PNGs of what a test saw, under MEDIC_SCREENSHOTS_DIR (CI exports
it: artefacts, not committed) or a directory of the test's own.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM_PATH = os.environ.get("MEDIC_TEST_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Every wait of a browser test (a locator, a navigation, an expect) gives up after this.
DEFAULT_TIMEOUT_MS = 5000
SCREENSHOTS_ENV = "MEDIC_SCREENSHOTS_DIR"
# Read at import: tests run without ambient MEDIC_* variables (tests/conftest.py removes them per test).
SCREENSHOTS_DIR = os.environ.get(SCREENSHOTS_ENV) or None


def missing() -> str | None:
    """What the browser tests need and this machine lacks, worded as what to install; None when all is there."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the Python package playwright (pip install -e '.[test]')")
    if not (os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK)):
        found = shutil.which("chromium")
        hint = f"; a chromium is at {found}: set MEDIC_TEST_CHROMIUM to use it" if found else ""
        problems.append(f"Debian's chromium at {CHROMIUM_PATH} (apt-get install -y chromium){hint}")
    if not problems:
        return None
    return "the browser tests need " + " and ".join(problems) + " (Playwright's own browser download is not used)"


def launch(playwright: Playwright) -> Browser:
    """Headless chromium with a fresh temporary profile (removed when the browser closes)."""
    return playwright.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=list(LAUNCH_ARGS))


def screenshots_root(fallback: Path) -> Path:
    """MEDIC_SCREENSHOTS_DIR as the test run started, else `fallback`; created."""
    path = Path(SCREENSHOTS_DIR) if SCREENSHOTS_DIR else fallback
    path.mkdir(parents=True, exist_ok=True)
    return path


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:80] or "page"


class Screenshots:
    """Full-page screenshots of one test, numbered in the order taken: `<dir>/<test>/<nn>-<name>.png`."""

    def __init__(self, root: Path, test_name: str):
        self.dir = root / slug(test_name)
        self.taken: list[Path] = []
        for old in self.dir.glob("*.png"):  # an earlier run's, in a reused MEDIC_SCREENSHOTS_DIR
            old.unlink()

    def take(self, page: Page, name: str | None = None, **options: Any) -> Path:
        """The page as it is now, the whole of it; named after its URL's path unless `name` is given."""
        self.dir.mkdir(parents=True, exist_ok=True)
        label = slug(name or page.url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0])
        width = page.viewport_size["width"] if page.viewport_size else 0
        path = self.dir / f"{len(self.taken) + 1:02d}-{label}-{width}px.png"
        page.screenshot(path=str(path), full_page=True, **options)
        self.taken.append(path)
        return path
