"""Recovery end to end with HTTP replays against a scripted local server (the partner API)."""

from __future__ import annotations

import pytest

from tests.support import recovery
from tests.support.httpserver import respond
from tests.support.recovery import http_target, make_event, plan, report, retry_step, write_plans
from tests.support.replay_http import allow_http

pytestmark = pytest.mark.integration


def test_retry_after_of_a_503_is_honoured_over_a_tiny_policy_delay(medic, client, http_server, tmp_path):
    http_server.script("/orders", respond(503, {"Retry-After": "2"}), respond(200, body={"id": 7}))
    plans = write_plans(tmp_path, [plan("http-retry-after", retry_step(5, 0.1, 2, 0.2, "none", timeout_s=13),
                                        {"kind": "dead_letter"})])
    medic.configure(plans_file=plans, replay_http__allow=allow_http(http_server))
    medic.start(testapp=False)

    report(client, make_event(http_target(http_server.url("/orders"), body={"order": 7})))
    [execution] = recovery.wait_executions(medic.db_url, 1, timeout_s=20)
    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=30)
    medic.wait_quiet()  # a third call would have come by now

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    first, second = http_server.times("/orders")
    assert second - first >= 2 - 0.2, f"the second call came {second - first:.2f}s after the first: Retry-After ignored"
    assert second - first <= 2 + 1.5
    assert http_server.calls("/orders") == 2 and http_server.effects("/orders") == 1
    assert http_server.successes("/orders") == 1
    requests = http_server.requests("/orders")
    assert {r.idempotency_key for r in requests} == {f"medic-execution-{done['id']}"}
    assert [r.method for r in requests] == ["POST", "POST"] and requests[1].json() == {"order": 7}
    attempts = recovery.attempts(medic.db_url, done["id"])
    assert [(a["step_kind"], a["number"], a["state"], a["outcome"]) for a in attempts] == [
        ("retry", 1, "failed", "retryable"), ("retry", 2, "succeeded", "success")], recovery.describe(medic.db_url)
    planned = recovery.epoch(attempts[1]["scheduled_for"]) - recovery.epoch(attempts[0]["finished_at"])
    assert planned >= 2 - 0.1, f"attempt 2 was scheduled {planned:.2f}s after the 503"


def test_a_400_is_permanent_and_moves_straight_to_the_fallback(medic, client, http_server, tmp_path):
    http_server.script("/orders", respond(400, body={"error": "bad order"}))
    http_server.script("/orders-fallback", respond(201))
    plans = write_plans(tmp_path, [plan("http-permanent", retry_step(5, 0.1, 2, 0.2, "none", timeout_s=13),
                                        {"kind": "fallback", "timeout_s": 13},
                                        {"kind": "dead_letter"})])
    medic.configure(plans_file=plans, replay_http__allow=allow_http(http_server))
    medic.start(testapp=False)

    report(client, make_event(http_target(http_server.url("/orders")),
                              fallback=http_target(http_server.url("/orders-fallback"), method="PUT")))
    [execution] = recovery.wait_executions(medic.db_url, 1, timeout_s=20)
    [done] = recovery.wait_execution_state(medic.db_url, execution["id"], recovery.FINAL_STATES, timeout_s=30)
    medic.wait_quiet()  # a retry of the 400 would have come by now

    assert done["state"] == "succeeded", recovery.describe(medic.db_url)
    assert http_server.calls("/orders") == 1, "a 400 was retried"
    assert http_server.calls("/orders-fallback") == 1 and http_server.effects("/orders-fallback") == 1
    assert [r.method for r in http_server.requests("/orders-fallback")] == ["PUT"]
    attempts = recovery.attempts(medic.db_url, done["id"])
    assert [(a["step_kind"], a["step_index"], a["number"], a["state"], a["outcome"]) for a in attempts] == [
        ("retry", 0, 1, "failed", "permanent"),
        ("fallback", 1, 1, "succeeded", "success"),
    ], recovery.describe(medic.db_url)
    assert "400" in (attempts[0]["error"] or "")
