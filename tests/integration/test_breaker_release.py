"""When a probe closes a breaker, the attempts deferred behind it go at once, spread over a short
window, instead of a recovery timeout later; the messages sent for their old times do nothing."""

from __future__ import annotations

import pytest

from tests.support import recovery
from tests.support.httpserver import respond
from tests.support.recovery import SERVICE, http_target, make_event, plan, report, retry_step, write_plans
from tests.support.replay_http import allow_http
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

EVENTS = 6
# Within the tests' countdown limit (5 s): each deferral sends a message for its old time, which must do nothing.
RECOVERY_TIMEOUT_S = 4.5
RELEASE_PER_S = 4  # 6 waiting: spread over 1.5 s


def deferred(db_url: str) -> set[int]:
    return {a["execution_id"] for a in recovery.audit(db_url) if a["action"] == "deferred"}


def transition_at(db_url: str, pair: tuple[str, str], timeout_s: float) -> float:
    def found() -> dict | None:
        return next((t for t in recovery.breaker_transitions(db_url, SERVICE)
                     if (t["from_state"], t["to_state"]) == pair), None)
    try:
        wait_for(lambda: found() is not None, timeout_s=timeout_s, what=f"breaker transition {pair}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{recovery.describe(db_url)}") from None
    return recovery.epoch(found()["at"])


@pytest.mark.parametrize("store", ["redis", "database"])
def test_deferred_attempts_run_right_after_the_probe_closes_the_breaker(store, medic, client, http_server, tmp_path):
    http_server.script("/partner", respond(500, body={"error": "partner down"}))
    plans = write_plans(
        tmp_path,
        [plan("breaker-release", retry_step(50, 0.2, 1.5, 0.5, "none", timeout_s=13, on_breaker_open="defer"),
              {"kind": "dead_letter"})],
        breakers={"services": {SERVICE: {"mode": "count", "failure_threshold": 3, "window_s": 60,
                                         "recovery_timeout_s": RECOVERY_TIMEOUT_S, "release_per_s": RELEASE_PER_S}}})
    medic.configure(plans_file=plans, breaker_store=store, replay_http__allow=allow_http(http_server))
    medic.start(testapp=False)

    for n in range(EVENTS):
        report(client, make_event(http_target(http_server.url("/partner"), body={"order": n}, timeout_s=2)))
    recovery.wait_executions(medic.db_url, EVENTS, timeout_s=20)
    opened_at = transition_at(medic.db_url, ("closed", "open"), timeout_s=20)
    wait_for(lambda: deferred(medic.db_url) == {e["id"] for e in recovery.executions(medic.db_url)}, timeout_s=10,
             what="every execution deferred by the open breaker")
    http_server.script("/partner", respond(200, body={"ok": True}))  # the partner is back

    closed_at = transition_at(medic.db_url, ("half_open", "closed"), timeout_s=20)
    assert closed_at < opened_at + 2 * RECOVERY_TIMEOUT_S
    finished = recovery.wait_execution_state(medic.db_url, None, recovery.FINAL_STATES, timeout_s=30, count=EVENTS)
    assert [e["state"] for e in finished] == ["succeeded"] * EVENTS, recovery.describe(medic.db_url)

    # Every execution ended within a release window (and a little) of the close, not a recovery timeout later.
    late = {e["id"]: round(recovery.epoch(e["finished_at"]) - closed_at, 2) for e in finished}
    assert max(late.values()) < 2.5 < RECOVERY_TIMEOUT_S, f"seconds after the close: {late}"
    # ... spread, not all at once: one call in each slice of EVENTS / RELEASE_PER_S seconds.
    after_close = sorted(t for t in http_server.times("/partner") if t > closed_at)
    assert len(after_close) == EVENTS - 1, f"calls after the close: {[round(t - closed_at, 2) for t in after_close]}"
    assert after_close[-1] - after_close[0] >= 0.6 * (EVENTS - 1) / RELEASE_PER_S
    # Released once each (not the probe's own execution, nor one whose deferred time came with the probe's).
    released = [a["execution_id"] for a in recovery.audit(medic.db_url) if a["action"] == "released"]
    assert released and len(released) == len(set(released)) <= EVENTS - 1

    # The messages sent for the deferred times came and did nothing: each order was done once.
    medic.wait_quiet()
    assert http_server.effects("/partner") == EVENTS and http_server.successes("/partner") == EVENTS
    assert sum(1 for a in recovery.attempts(medic.db_url) if a["state"] == "succeeded") == EVENTS
