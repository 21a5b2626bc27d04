"""The circuit breaker of a service that keeps failing: it opens after the threshold, no call gets
through while it is open, and after the recovery timeout one probe closes it again."""

from __future__ import annotations

import time

import pytest

from tests.support import recovery
from tests.support.httpserver import respond
from tests.support.recovery import SERVICE, http_target, make_event, plan, report, retry_step, write_plans
from tests.support.replay_http import allow_http
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

THRESHOLD = 3
RECOVERY_TIMEOUT_S = 3
EVENTS = 6


def transitions(db_url: str) -> list[tuple[str, str]]:
    return [(t["from_state"], t["to_state"]) for t in recovery.breaker_transitions(db_url, SERVICE)]


def deferred(db_url: str) -> set[int]:
    """Executions with an attempt deferred by the open breaker (not sent, not counted)."""
    return {a["execution_id"] for a in recovery.audit(db_url) if a["action"] == "deferred"}


def wait_transition(db_url: str, pair: tuple[str, str], timeout_s: float) -> dict:
    def found() -> dict | None:
        return next((t for t in recovery.breaker_transitions(db_url, SERVICE)
                     if (t["from_state"], t["to_state"]) == pair), None)
    try:
        wait_for(lambda: found() is not None, timeout_s=timeout_s, what=f"breaker transition {pair[0]}->{pair[1]}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{recovery.describe(db_url)}") from None
    return found()


@pytest.mark.parametrize("store", ["redis", "database"])
def test_breaker_opens_after_the_threshold_blocks_calls_and_one_probe_closes_it(store, medic, client, http_server,
                                                                                 tmp_path):
    http_server.script("/partner", respond(500, body={"error": "partner down"}))
    plans = write_plans(
        tmp_path,
        [plan("breaker-retry", retry_step(50, 0.2, 1.5, 0.5, "none", timeout_s=13, on_breaker_open="defer"),
              {"kind": "dead_letter"})],
        breakers={"services": {SERVICE: {"failure_threshold": THRESHOLD, "window_s": 60,
                                         "recovery_timeout_s": RECOVERY_TIMEOUT_S, "half_open_max_calls": 1,
                                         "success_threshold": 1}}})
    medic.configure(plans_file=plans, breaker_store=store, replay_http__allow=allow_http(http_server))
    medic.start(testapp=False)

    for n in range(EVENTS):
        report(client, make_event(http_target(http_server.url("/partner"), body={"order": n}, timeout_s=2)))
    recovery.wait_executions(medic.db_url, EVENTS, timeout_s=20)

    opened = wait_transition(medic.db_url, ("closed", "open"), timeout_s=20)
    opened_at = recovery.epoch(opened["at"])
    assert transitions(medic.db_url)[0] == ("closed", "open")
    failures_before_open = [t for t in http_server.times("/partner") if t <= opened_at]
    assert len(failures_before_open) >= THRESHOLD

    # While open, nothing reaches the partner. Barrier: every execution's next attempt met the open
    # breaker and was deferred (so its call under way when it opened has landed), then a sweeper pass
    # taken after that sent nothing.
    wait_for(lambda: deferred(medic.db_url) == {e["id"] for e in recovery.executions(medic.db_url)}, timeout_s=10,
             what="every execution deferred by the open breaker")
    calls_while_open = http_server.calls("/partner")
    [sweep] = medic.wait_sweeps(1)
    assert time.time() < opened_at + RECOVERY_TIMEOUT_S - 0.2, "too slow to watch the open window"
    assert sweep["dispatched"] == 0, f"the sweeper sent attempts while the breaker was open: {sweep}"
    assert http_server.calls("/partner") == calls_while_open, "calls reached the service while its breaker was open"

    http_server.script("/partner", respond(200, body={"ok": True}))  # the partner is back
    closed = wait_transition(medic.db_url, ("half_open", "closed"), timeout_s=20)
    closed_at = recovery.epoch(closed["at"])
    recovery.wait_execution_state(medic.db_url, None, recovery.FINAL_STATES, timeout_s=30, count=EVENTS)

    assert transitions(medic.db_url)[:3] == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    # after the recovery timeout exactly one probe went through before the breaker closed
    probes = [t for t in http_server.times("/partner") if opened_at + 0.5 < t <= closed_at]
    assert len(probes) == 1, f"calls between open and close: {[round(t - opened_at, 2) for t in probes]}"
    assert opened_at + RECOVERY_TIMEOUT_S - 0.2 <= probes[0] <= opened_at + RECOVERY_TIMEOUT_S + 2.5

    finished = recovery.executions(medic.db_url)
    assert [e["state"] for e in finished] == ["succeeded"] * EVENTS, recovery.describe(medic.db_url)
    assert http_server.effects("/partner") == EVENTS and http_server.successes("/partner") == EVENTS
    # attempts deferred by the open breaker are not attempts: every failed attempt is a 500 the partner served
    served_500 = sum(1 for r in http_server.requests("/partner") if r.status == 500)
    failed = [a for a in recovery.attempts(medic.db_url) if a["outcome"] == "retryable"]
    assert len(failed) == served_500, recovery.describe(medic.db_url)
    assert all(a["outcome"] in ("success", "retryable") for a in recovery.attempts(medic.db_url)
               if a["state"] in ("succeeded", "failed", "timed_out"))
