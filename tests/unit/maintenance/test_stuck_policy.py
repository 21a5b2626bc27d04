"""The stuck job's policy: requeue, escalate after N requeues, once; an operator's action starts afresh.
And which queue names an execution may be reassigned to."""

from __future__ import annotations

import pytest

from workers.maintenance.stuck.policy import ESCALATE, LEAVE, REQUEUE, History, decide, history_of
from workers.recovery.dispatch import is_recovery_queue

JOB = "maintenance:stuck"
REQ = (JOB, "stuck_requeue")
ESC = (JOB, "stuck_escalated")


@pytest.mark.parametrize("entries, expected", [
    ([], History(0, False)),
    ([REQ], History(1, False)),
    ([REQ, ("worker:h:1", "claimed"), REQ], History(2, False)),
    ([REQ, REQ, ESC], History(2, True)),
    ([REQ, REQ, ESC, ("operator:alice", "stuck_requeue")], History(0, False)),  # the operator took it in hand
    ([REQ, ("operator:alice", "retry_now"), REQ], History(1, False)),
    ([ESC, REQ], History(1, True)),
])
def test_history_of_audit_entries(entries, expected):
    assert history_of(entries) == expected


@pytest.mark.parametrize("history, max_requeues, action, why", [
    (History(0, False), 3, REQUEUE, "requeue 1 of 3"),
    (History(2, False), 3, REQUEUE, "requeue 3 of 3"),
    (History(3, False), 3, ESCALATE, "requeued 3 time(s) already: escalate"),
    (History(0, False), 0, ESCALATE, "requeued 0 time(s) already: escalate"),
    (History(5, False), 3, ESCALATE, "requeued 5 time(s) already: escalate"),
    (History(3, True), 3, LEAVE, "escalated before: left to an operator"),
    (History(0, True), 3, LEAVE, "escalated before: left to an operator"),
])
def test_decide(history, max_requeues, action, why):
    decision = decide(history, max_requeues=max_requeues)
    assert (decision.action, decision.why) == (action, why)


@pytest.mark.parametrize("name, valid", [
    ("medic.recovery", True),
    ("medic.recovery.special", True),
    ("medic.recovery.eu-west.slow_lane", True),
    ("medic.recovery.", False),
    ("medic.recovery..x", False),
    ("medic.recoveryx", False),
    ("medic.recovery.a b", False),
    ("medic.recovery.a,b", False),
    ("medic.recovery.é", False),
    ("medic.errors", False),
    ("app", False),
    ("", False),
])
def test_reassignable_queues(name, valid):
    assert is_recovery_queue(name) is valid
