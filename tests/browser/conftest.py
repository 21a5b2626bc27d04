"""Fixtures of the console's browser tests: a real medic per module, driven by a real Chromium.

Per module (the browser suite must stay short): a fresh PostgreSQL database, migrated; a Redis db
claimed for the module alone as the broker (tests/support/redisdb.py: the run's own db is flushed
by other tests' fixtures); `medic worker` on the intake and recovery queues; `medic serve` on a free
port with three tokens (ops: write, viewer: read, app: ingest) and writes allowed. Events are
reported over HTTP (POST /api/events with the ingest token) and triaged by the worker, as an app's
would be; `Seeded` is what every module finds there: a plain error, an error whose fields are XSS
payloads, dead letters (a `compensate` target the allowlist refuses: the `bug` plan's undo fails at
once, it notifies, it dies) and an alert (a breaker forced open, then the health job).

Per test: a browser context at 1280x800 whose every wait gives up after DEFAULT_TIMEOUT_MS, dialogs
recorded (a `confirm` is accepted, as an operator would), and its screenshots under
MEDIC_SCREENSHOTS_DIR (CI exports it) or the test's tmp dir.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.support import browser, redisdb, services
from tests.support.databases import drop_pg
from tests.support.pgcluster import free_port
from tests.support.services import Process, medic_command, medic_env, wait_for

# Per test, the module's medic starting included (the first test of a module pays for it).
BROWSER_TIMEOUT_S = 120
WRITE_TOKEN = "console-ops-token-0123456789abcdef"
READ_TOKEN = "console-viewer-token-0123456789abcdef"
INGEST_TOKEN = "console-app-token-0123456789abcdef"
TOKENS = {"ops": {"token": WRITE_TOKEN, "access": "write"}, "viewer": {"token": READ_TOKEN, "access": "read"},
          "app": {"token": INGEST_TOKEN, "access": "ingest"}}
MEDIC_QUEUES = "medic.errors,medic.recovery"
STACK_TIMEOUT_S = 30  # for medic to triage, start and finish what the fixtures report

# A bug (KeyError: category internal) gets the `bug` plan: compensate, notify, dead letter. Its
# compensate target is not in MEDIC_REPLAY_TARGETS__CELERY_TASKS: refused at once, nothing is sent.
UNDO = {"kind": "celery", "task": "shop.undo_reservation", "args": [7], "queue": "shop"}
PLAIN_ERROR = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused by ledger",
               "service": "ledger", "operation": "post_entry"}
DEAD_LETTER = {"error_type": "KeyError", "message": "'sku'", "service": "shop", "operation": "reserve",
               "compensate": UNDO}
SCRIPT = "<script>window.__xss=1</script>"
IMAGE = '<img src=x onerror="window.__xss=1">'
XSS_EVENT = {"error_type": "KeyError", "message": f"bad order {SCRIPT}", "service": f"web{IMAGE}",
             "operation": f"checkout{SCRIPT}", "context": {"note": SCRIPT, "img": IMAGE}, "compensate": UNDO,
             "traceback": f"Traceback (most recent call last):\nKeyError: {SCRIPT}"}
BREAKER_SERVICE = "partner"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.integration)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(BROWSER_TIMEOUT_S))


# ----------------------------------------------------------------------------- medic


class ConsoleStack:
    """medic's database, broker db, worker and serve for one test module."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.database = services.create_pg_database()
        self.db_url = services.pg_url(self.database)
        self.claim: redisdb.Claim | None = None
        self.processes: list[Process] = []
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._engine: Engine | None = None

    def start(self) -> ConsoleStack:
        from workers.storage import migrate

        migrate.upgrade(self.db_url)
        self.claim = redisdb.claim()
        self.env = medic_env(database_url=self.db_url, broker_url=self.claim.url, breaker_store="database",
                             serve__port=self.port, serve__tokens=json.dumps(TOKENS), serve__allow_writes=True,
                             serve__metrics_cache_s=0, serve__probe_timeout_s=1, log_format="text",
                             broker_visibility_timeout_s=10, recovery_attempt_timeout_s=13)
        worker = Process(medic_command("worker", "--queues", MEDIC_QUEUES, "--concurrency", "2",
                                       "--hostname", f"console-{self.port}@%h"), self.env, self.tmp / "worker.log")
        serve = Process(medic_command("serve"), self.env, self.tmp / "serve.log")
        self.processes += [worker, serve]
        worker.wait_ready()
        wait_for(self._answers, timeout_s=STACK_TIMEOUT_S, what="medic serve to answer /healthz")
        return self

    def _answers(self) -> bool:
        serve = self.processes[-1]
        if serve.proc.poll() is not None:
            raise AssertionError(f"medic serve exited {serve.proc.returncode}:\n{serve.output()[-3000:]}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.db_url)
        return self._engine

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def report(self, *events: dict[str, Any]) -> None:
        """POST /api/events as an app does (the ingest token); every event must be accepted."""
        answer = httpx.post(f"{self.base_url}/api/events", json=list(events), timeout=10,
                            headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == len(events), answer.text

    def group_of(self, **fields: str) -> int:
        """The id of the error group with these columns, once the worker has stored one."""
        where = " AND ".join(f"{column} = :{column}" for column in fields)
        found: list[int] = []

        def stored() -> bool:
            found[:] = [r["id"] for r in self.rows(f"SELECT id FROM error_groups WHERE {where}", **fields)]
            return bool(found)

        wait_for(stored, timeout_s=STACK_TIMEOUT_S, what=f"an error group with {fields}")
        return found[0]

    def executions_of(self, group_id: int) -> list[dict[str, Any]]:
        return self.rows("SELECT id, state, replay_of FROM executions WHERE group_id = :g ORDER BY id", g=group_id)

    def dead_executions(self, group_id: int, count: int) -> list[int]:
        """The ids of the group's first `count` executions, once each is a dead letter."""
        def dead() -> bool:
            states = [e["state"] for e in self.executions_of(group_id)]
            return len(states) >= count and all(s == "dead" for s in states[:count])

        wait_for(dead, timeout_s=STACK_TIMEOUT_S, what=f"{count} dead letters in group {group_id}")
        return [e["id"] for e in self.executions_of(group_id)[:count]]

    def open_alert(self) -> int:
        """A breaker forced open, then the health job: it opens an alert `breaker_open` on that service."""
        from config.settings import load_settings
        from workers.breakers import BreakerConfig, breakers_from_settings
        from workers.maintenance.runner import run_job
        from workers.storage.db import session_factory

        assert self.claim is not None
        settings = load_settings(database_url=self.db_url, broker_url=self.claim.url, breaker_store="database")
        breakers = breakers_from_settings(settings, session_factory(self.db_url), lambda service: BreakerConfig())
        breakers.force_open(BREAKER_SERVICE, actor="operator:browser-tests")
        outcome = run_job("health", settings, trigger="cli")
        assert outcome.run.status == "succeeded", outcome.run.error
        [alert] = self.rows("SELECT id FROM alerts WHERE rule = 'breaker_open' AND state = 'open'")
        return alert["id"]

    def tails(self, chars: int = 3000) -> str:
        return "\n".join(f"===== {p.log_path.name} (exit {p.proc.returncode}) =====\n{p.output()[-chars:]}"
                         for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):
            try:
                process.terminate(timeout_s=15)
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {process.log_path.name}: {exc!r}")
        print(self.tails())
        if self._engine is not None:
            self._engine.dispose()
        drop_pg(self.database)
        if self.claim is not None:
            self.claim.release()


@dataclass
class Seeded:
    """What the module's medic holds before its first test (ids of rows the worker stored)."""

    plain_group: int
    xss_group: int
    xss_execution: int
    dead_group: int
    dead_letters: list[int]
    alert: int
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[ConsoleStack]:
    console = ConsoleStack(tmp_path_factory.mktemp("console"))
    try:
        yield console.start()
    finally:
        console.stop()


@pytest.fixture(scope="module")
def seeded(stack) -> Seeded:
    stack.report(PLAIN_ERROR, XSS_EVENT, *({**DEAD_LETTER, "context": {"order": n}} for n in (7, 8, 9)))
    plain = stack.group_of(service=PLAIN_ERROR["service"])
    xss = stack.group_of(service=XSS_EVENT["service"])
    dead = stack.group_of(service=DEAD_LETTER["service"])
    [xss_execution] = stack.dead_executions(xss, 1)
    return Seeded(plain_group=plain, xss_group=xss, xss_execution=xss_execution, dead_group=dead,
                  dead_letters=stack.dead_executions(dead, 3), alert=stack.open_alert())


# ----------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
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
def context(chromium, stack):
    ctx = chromium.new_context(base_url=stack.base_url, viewport=browser.DESKTOP)
    ctx.set_default_timeout(browser.DEFAULT_TIMEOUT_MS)
    ctx.set_default_navigation_timeout(browser.DEFAULT_TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context, dialogs, screenshots):
    from playwright.sync_api import expect

    expect.set_options(timeout=browser.DEFAULT_TIMEOUT_MS)
    tab = context.new_page()
    tab.on("dialog", dialogs.handle)
    yield tab
    if not tab.is_closed() and tab.url.startswith("http"):
        try:
            screenshots.take(tab, "last")
        except Exception as exc:  # a screenshot never fails a test
            print(f"no last screenshot: {exc!r}")


def elapsed_since(started: float) -> float:
    return time.monotonic() - started
