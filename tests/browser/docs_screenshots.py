"""The console screenshots in docs/console/, taken from a real medic with a day's worth of ordinary trouble.

    python -m tests.browser.docs_screenshots [--out docs/console]

Starts the browser tests' stack (tests/browser/stack.py) with the test app's worker
(tests/support/testapp.py) as the app medic replays into, reports a handful of realistic errors over
HTTP (a flaky payments API that recovers on its second try, a partner that keeps timing out and
ends as dead letters, a deadlock, a missing key whose undo is refused, throttling, a revoked
credential, bad input), opens one breaker, runs the health job, then saves full-page PNGs, 1280 px
wide, of the overview, the groups list, a group, an execution, the dead letters and the breakers.
The one thing not made by medic itself: the past day of health snapshots behind the overview's
chart (`seed_history`, error rates that rise and fall), so the chart has a day to draw. Needs what
the browser tests need (Debian's chromium, playwright) and the local PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.browser.stack import DEAD_LETTER, WRITE_TOKEN, ConsoleStack
from tests.support import browser
from tests.support.recovery import celery_target, plan, retry_step, write_plans
from tests.support.services import wait_for

REPO = Path(__file__).resolve().parents[2]
QUICK_RETRY = retry_step(max_attempts=3, initial_delay_s=0.3, backoff_rate=2, max_delay_s=1)
PLANS = [plan("payments-retry", QUICK_RETRY, {"kind": "dead_letter"}, service="payments-api"),
         plan("partner-retry", QUICK_RETRY, {"kind": "escalate", "channel": "log", "level": "error"},
              {"kind": "dead_letter"}, service="partner-api")]


def events() -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:6]
    connection = {"error_type": "requests.exceptions.ConnectionError", "service": "payments-api",
                  "operation": "capture_payment",
                  "message": "HTTPSConnectionPool(host='payments.internal', port=443): Max retries exceeded "
                             "(Caused by NewConnectionError: Connection refused)"}
    timeout = {"error_type": "requests.exceptions.ReadTimeout", "service": "partner-api", "operation": "sync_order",
               "message": "HTTPSConnectionPool(host='api.partner.example', port=443): Read timed out. "
                          "(read timeout=10)"}
    out: list[dict[str, Any]] = []
    out += [{**connection, "replay": celery_target("testapp.flaky", f"pay-{run}-{n}", 1),
             "context": {"order_id": 4100 + n}} for n in range(6)]
    out += [{**timeout, "replay": celery_target("testapp.always_fails", f"partner-{run}-{n}"),
             "context": {"order_id": 5200 + n}} for n in range(3)]
    out += [{"error_type": "psycopg.errors.DeadlockDetected", "service": "orders-db", "operation": "update_stock",
             "message": f"deadlock detected DETAIL: Process {900 + n} waits for ShareLock on transaction 7731",
             "code": "40P01"} for n in range(9)]
    out += [{**DEAD_LETTER, "context": {"order": n}} for n in range(2)]
    out += [{"error_type": "stripe.error.RateLimitError", "service": "stripe", "operation": "create_refund",
             "message": "Request rate limit exceeded", "http_status": 429} for _ in range(5)]
    out += [{"error_type": "requests.exceptions.HTTPError", "service": "crm", "operation": "push_contact",
             "message": "401 Client Error: Unauthorized for url: https://crm.example/api/contacts", "http_status": 401}]
    out += [{"error_type": "pydantic.ValidationError", "service": "checkout", "operation": "place_order",
             "message": "1 validation error for Order quantity: Input should be greater than 0"} for _ in range(3)]
    return out


def seed_history(stack: ConsoleStack, *, hours: int = 24, every_min: int = 10) -> None:
    """Health snapshots over the past `hours` (healthy; error rates per category that rise and fall)."""
    from workers.maintenance.health.metrics import Metrics
    from workers.storage.db import session_factory
    from workers.storage.models import HealthSnapshot

    now = datetime.now(UTC)
    with session_factory(stack.db_url)() as session:
        for n in range(hours * 60 // every_min, 0, -1):
            h = n * every_min / 60  # hours ago
            rates = {"network": 1.2 + math.sin(h / 3), "timeout": 0.6 + 0.4 * math.cos(h / 5),
                     "conflict": 0.2 + (1.5 if 6 <= h <= 8 else 0.0), "rate_limit": 0.3 + 0.25 * math.sin(h / 2)}
            metrics = Metrics(window_s=300, error_rate_per_min={k: round(max(v, 0), 2) for k, v in rates.items()})
            session.add(HealthSnapshot(taken_at=now - timedelta(hours=h), status="healthy",
                                       metrics=metrics.to_dict(), reasons={"items": []}))
        session.commit()


def take(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from tests.browser import ui

    problem = browser.missing()
    if problem:
        raise SystemExit(problem)
    tmp = Path(tempfile.mkdtemp(prefix="medic-docs-screenshots-"))
    stack = ConsoleStack(tmp)
    try:
        stack.start(testapp=True, plans_files=str(write_plans(tmp, PLANS)),
                    replay_targets__celery_tasks="testapp.*", replay_targets__celery_queues="testapp",
                    recovery_countdown_max_s=5)
        stack.report(*events())
        payments = stack.group_of(service="payments-api")
        partner = stack.group_of(service="partner-api")
        wait_for(lambda: [e["state"] for e in stack.executions_of(payments)] == ["succeeded"] * 6,
                 timeout_s=60, what="the payments replays to succeed")
        dead = stack.dead_executions(partner, 3)
        stack.dead_executions(stack.group_of(service="shop"), 2)
        stack.force_open("partner-api")
        seed_history(stack)
        stack.run_job("health")
        [succeeded] = stack.executions_of(payments)[:1]
        shots = [("overview", "/ui"), ("groups", "/ui/groups"), ("group", f"/ui/groups/{partner}"),
                 ("execution", f"/ui/executions/{succeeded['id']}"), ("dead-letters", "/ui/dead"),
                 ("breakers", "/ui/breakers")]
        out.mkdir(parents=True, exist_ok=True)
        saved = []
        with sync_playwright() as driver:
            chromium = browser.launch(driver)
            context = chromium.new_context(base_url=stack.base_url, viewport=browser.DESKTOP)
            context.set_default_timeout(browser.DEFAULT_TIMEOUT_MS)
            page = context.new_page()
            ui.log_in(page, WRITE_TOKEN)
            for name, path in shots:
                ui.visit(page, path)
                target = out / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                saved.append(target)
                print(f"{target}  ({path})")
            chromium.close()
        print(f"dead letters {dead}; logs in {tmp}")
        return saved
    finally:
        stack.stop(tails=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.browser.docs_screenshots",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "console", help="where the PNGs go (docs/console)")
    take(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
