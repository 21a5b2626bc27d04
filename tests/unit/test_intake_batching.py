"""The batch consumer's decisions, with a recording pool, timer and messages (no broker, no Celery worker).

Real workers drive it in tests/integration/test_intake_worker.py and test_intake_bounds.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import TimeLimitExceeded, WorkerLostError

from workers.intake import batching
from workers.intake.consumer import WorkerLosses


class Timer:
    def __init__(self):
        self.calls: list[tuple[float, Any, tuple]] = []

    def call_after(self, secs, fun, args=()):
        entry = SimpleNamespace(cancelled=False, cancel=lambda: setattr(entry, "cancelled", True))
        self.calls.append((secs, fun, tuple(args), entry))
        return entry

    def fire(self) -> None:
        calls, self.calls = self.calls, []
        for _, fun, args, entry in calls:
            if not entry.cancelled:
                fun(*args)


class Pool:
    num_processes = 2

    def __init__(self):
        self.jobs: list[dict[str, Any]] = []

    def apply_async(self, fun, args, **callbacks):
        self.jobs.append({"items": args[0], **callbacks})

    def ids(self) -> list[list[str]]:
        return [[item["id"] for item in job["items"]] for job in self.jobs]


class Message:
    def __init__(self, delivery_id: str):
        self.headers = {"id": delivery_id}
        self.body = b"[[{}], {}, {}]"
        self.content_type, self.content_encoding = "application/json", "utf-8"


@pytest.fixture
def setup(monkeypatch):
    losses = WorkerLosses(max_losses=3)
    monkeypatch.setattr(batching, "worker_losses", losses)
    kept: list[tuple[str, str]] = []
    monkeypatch.setattr(batching, "keep_unprocessable", lambda app, message, reason: kept.append(
        (message.headers["id"], reason)))
    qos = SimpleNamespace(raised=0)
    qos.increment_eventually = lambda n: setattr(qos, "raised", qos.raised + n)
    consumer = SimpleNamespace(pool=Pool(), timer=Timer(), qos=qos, connection_errors=())
    batcher = batching.IntakeBatcher(SimpleNamespace(), consumer, max_events=3, max_wait_s=0.2, soft_limit_s=30,
                                     hard_limit_s=60, db_retry_max_delay_s=30)
    acked: list[str] = []

    def receive(*ids: str) -> None:
        for delivery_id in ids:
            batcher(Message(delivery_id), None, lambda *_a, d=delivery_id: acked.append(d), None, None)

    return SimpleNamespace(batcher=batcher, consumer=consumer, receive=receive, acked=acked, kept=kept, losses=losses)


def test_a_full_batch_runs_at_once_and_prefetch_makes_room_for_batches(setup):
    setup.receive("a", "b", "c", "d")
    assert setup.consumer.pool.ids() == [["a", "b", "c"]]
    assert setup.consumer.qos.raised == 3 * (2 + 1)  # a batch per process and one filling, raised once


def test_a_lone_event_runs_when_the_wait_is_over(setup):
    setup.receive("a")
    assert setup.consumer.pool.jobs == []
    [(wait_s, *_)] = setup.consumer.timer.calls
    assert wait_s == 0.2
    setup.consumer.timer.fire()
    assert setup.consumer.pool.ids() == [["a"]]


def test_messages_are_acknowledged_only_when_their_batch_is_stored(setup):
    setup.receive("a", "b", "c")
    assert setup.acked == []
    setup.consumer.pool.jobs[0]["callback"]({"later": ["c"]})
    assert setup.acked == ["a", "b"]
    assert setup.consumer.pool.ids()[-1] == ["c"]  # what the soft time limit left runs again


def test_a_database_outage_runs_the_same_batch_again_after_a_backoff(setup):
    setup.receive("a", "b", "c")
    setup.consumer.pool.jobs[0]["callback"]({"retry": "StorageUnavailable: database unavailable"})
    assert setup.acked == []
    [(delay_s, *_)] = [call for call in setup.consumer.timer.calls if call[1] == setup.batcher.start]
    assert 0 < delay_s <= batching.DB_RETRY_INITIAL_S
    setup.consumer.timer.fire()
    assert setup.consumer.pool.ids() == [["a", "b", "c"], ["a", "b", "c"]]


def test_a_lost_process_runs_the_batch_again_and_a_poison_event_is_kept_alone(setup):
    setup.receive("a", "poison", "c")
    lost = ExceptionWithTraceback(WorkerLostError("exited with signal 9"), "tb")
    setup.consumer.pool.jobs[0]["error_callback"](SimpleNamespace(exception=lost))
    assert setup.consumer.pool.ids()[1:] == [["a"], ["poison"], ["c"]]  # each lost once: each alone
    for job_ids, job in zip(setup.consumer.pool.ids()[1:], setup.consumer.pool.jobs[1:], strict=True):
        if job_ids == ["poison"]:
            job["error_callback"](WorkerLostError("again"))
        else:
            job["callback"]({"later": []})
    setup.consumer.pool.jobs[-1]["error_callback"](WorkerLostError("a third time"))
    assert [d for d, _ in setup.kept] == ["poison"] and "lost 3 times" in setup.kept[0][1]
    assert sorted(setup.acked) == ["a", "c", "poison"]


def test_an_event_alone_past_the_hard_time_limit_is_kept_at_once(setup):
    setup.receive("slow")
    setup.consumer.timer.fire()
    job = setup.consumer.pool.jobs[0]
    job["timeout_callback"](soft=False, timeout=60)
    job["error_callback"](TimeLimitExceeded(60))  # billiard reports it twice: settled once
    assert setup.kept == [("slow", "processing exceeded the hard time limit of 60 s (MEDIC_TASK_TIME_LIMIT_S); "
                                   "not redelivered")]
    assert setup.acked == ["slow"] and len(setup.consumer.pool.jobs) == 1
