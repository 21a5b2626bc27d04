"""signal_groups against real databases: notifications queued in the caller's transaction, one per
signal per cooldown, also with several workers committing batches of the same group at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from config.settings import Settings
from tests.support import services
from workers.notify import queue
from workers.notify.group_signals import GroupSeen, deliver_signals, signal_groups
from workers.recovery.plans import PlanSpec, builtin_plan_paths, load_plans
from workers.storage.db import session_factory
from workers.storage.models import ErrorGroup, GroupSignal, Notification

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
PLANS = load_plans(builtin_plan_paths())
BUG = PLANS.get("bug")
SETTINGS = Settings(group_signal_spike_threshold=100, group_signal_spike_window_s=300,
                    group_signal_spike_cooldown_s=3600, group_signal_regressed_cooldown_s=3600)
EVENT = {"error_type": "KeyError", "message": "'sku'", "service": "orders", "operation": "push"}


def make_group(url: str, fingerprint: str = "a") -> int:
    with session_factory(url)() as session:
        group = ErrorGroup(fingerprint=fingerprint.rjust(64, "0"), error_type="KeyError", message_template="'<str>'",
                           service="orders", operation="push", status="open", occurrence_count=1, first_seen=T0,
                           last_seen=T0, category="internal", severity="high", retryable=False, confidence=0.9,
                           rule_id="r")
        session.add(group)
        session.commit()
        return group.id


def seen(group_id: int, *, new: bool = False, regressed: bool = False, occurrences: int = 1,
         plan: PlanSpec | None = BUG, at: datetime = T0) -> GroupSeen:
    assert plan is not None
    return GroupSeen(group_id=group_id, new=new, regressed=regressed, occurrences=occurrences, last_at=at,
                     event=EVENT, category="internal", severity="high", plan=plan)


def batch(url: str, entries: list[GroupSeen], *, now: datetime = T0) -> list[int]:
    with session_factory(url)() as session:
        ids = signal_groups(session, entries, now=now, settings=SETTINGS)
        session.commit()
    return ids


def notifications(url: str) -> list[Notification]:
    with session_factory(url)() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


class Sender:
    def __init__(self, fail: bool = False):
        self.asked: list[int] = []
        self.fail = fail

    def deliver(self, notification_id: int, token: datetime | None = None) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.asked.append(notification_id)


def test_new_regressed_and_spike_each_once(database_url):
    group_id = make_group(database_url)
    first = batch(database_url, [seen(group_id, new=True)])
    assert len(first) == 1
    assert batch(database_url, [seen(group_id)], now=T0 + timedelta(seconds=1)) == []
    regressed = batch(database_url, [seen(group_id, regressed=True)], now=T0 + timedelta(seconds=2))
    spike = batch(database_url, [seen(group_id, occurrences=150)], now=T0 + timedelta(seconds=3))
    again = batch(database_url, [seen(group_id, occurrences=150, regressed=True)], now=T0 + timedelta(seconds=4))
    assert len(regressed) == 1 and len(spike) == 1 and again == []
    rows = notifications(database_url)
    assert [(row.kind, row.level, row.channel, row.state, row.group_id) for row in rows] == [
        ("group_new", "error", "log", queue.PENDING, group_id),
        ("group_regressed", "error", "log", queue.PENDING, group_id),
        ("group_spike", "error", "log", queue.PENDING, group_id)]
    assert [row.id for row in rows] == first + regressed + spike
    assert rows[0].subject == "new internal error in orders: KeyError"
    with session_factory(database_url)() as session:
        state = session.get(GroupSignal, group_id)
        assert state is not None and state.window_count == 303 and state.signals_sent == 3


def test_signals_are_part_of_the_callers_transaction(database_url):
    group_id = make_group(database_url)
    with session_factory(database_url)() as session:
        assert len(signal_groups(session, [seen(group_id, new=True)], now=T0, settings=SETTINGS)) == 1
        session.rollback()  # the batch failed: nothing of it stays, so its retry signals again
    assert notifications(database_url) == []
    assert len(batch(database_url, [seen(group_id, new=True)])) == 1


def test_a_plan_that_signals_nothing_writes_nothing(database_url):
    group_id = make_group(database_url)
    quiet = PlanSpec.model_validate({"name": "quiet", "steps": [{"kind": "notify"}], "signals": {}})
    assert batch(database_url, [seen(group_id, new=True, occurrences=500, plan=quiet)]) == []
    with session_factory(database_url)() as session:
        assert session.scalar(select(func.count()).select_from(GroupSignal)) == 0


def test_only_the_plans_kinds_are_signalled(database_url):
    group_id = make_group(database_url)
    transient = PLANS.get("transient")  # spikes only
    assert batch(database_url, [seen(group_id, new=True, occurrences=5, plan=transient)]) == []
    assert len(batch(database_url, [seen(group_id, occurrences=100, plan=transient)])) == 1
    assert [row.kind for row in notifications(database_url)] == ["group_spike"]


def test_several_groups_in_one_batch_and_duplicates_merged(database_url):
    a, b = make_group(database_url, "a"), make_group(database_url, "b")
    ids = batch(database_url, [seen(b, new=True), seen(a, occurrences=60), seen(a, occurrences=60, new=True)])
    assert len(ids) == 3  # b new; a new and a spike (120 in one batch)
    assert sorted((row.group_id, row.kind) for row in notifications(database_url)) == [
        (a, "group_new"), (a, "group_spike"), (b, "group_new")]


def test_deliver_signals_asks_for_each_and_survives_a_broker_failure(database_url):
    group_id = make_group(database_url)
    ids = batch(database_url, [seen(group_id, new=True, occurrences=100)])
    sender = Sender()
    deliver_signals(sender, ids)
    assert sender.asked == ids and len(ids) == 2
    deliver_signals(Sender(fail=True), ids)  # logged; recovery's sweeper leases them from the queue


def test_the_state_goes_with_its_group(database_url):
    group_id = make_group(database_url)
    batch(database_url, [seen(group_id, new=True)])
    with session_factory(database_url)() as session:
        session.execute(delete(ErrorGroup).where(ErrorGroup.id == group_id))
        session.commit()
        assert session.scalar(select(func.count()).select_from(GroupSignal)) == 0


def run_in_threads(worker, count: int) -> None:
    """worker(n) for n in range(count), all at once; any exception of theirs fails the test."""
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            worker(n)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert not errors, errors


@pytest.mark.timeout(120)
def test_concurrent_workers_count_every_batch_and_signal_once(pg_database):
    """Eight workers commit 25 batches each of one group at once, every one of them claiming it new
    and regressed: the window counts all 10,000 occurrences, and each kind is signalled once."""
    url = services.pg_url(pg_database)
    group_id = make_group(url)
    workers, batches, per_batch = 8, 25, 50
    start = threading.Barrier(workers)
    found: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        sessions = session_factory(url)
        start.wait()
        for index in range(batches):
            now = T0 + timedelta(milliseconds=index * 10 + n)
            with sessions() as session:
                ids = signal_groups(session, [seen(group_id, new=True, regressed=True, occurrences=per_batch)],
                                    now=now, settings=SETTINGS)
                session.commit()
            with lock:
                found.extend(ids)

    run_in_threads(worker, workers)
    rows = notifications(url)
    assert sorted(row.kind for row in rows) == ["group_new", "group_regressed", "group_spike"]
    assert sorted(found) == sorted(row.id for row in rows)
    with session_factory(url)() as session:
        state = session.get(GroupSignal, group_id)
        assert state is not None
        assert state.window_count + state.previous_count == workers * batches * per_batch
        assert state.signals_sent == 3


@pytest.mark.timeout(120)
def test_concurrent_batches_of_many_groups_do_not_deadlock(pg_database):
    """Batches naming the same groups in different orders: rows are locked in id order."""
    url = services.pg_url(pg_database)
    groups = [make_group(url, str(n)) for n in range(20)]

    def worker(n: int) -> None:
        sessions = session_factory(url)
        order = groups[n:] + groups[:n]
        for index in range(10):
            with sessions() as session:
                signal_groups(session, [seen(g, new=index == 0) for g in order],
                              now=T0 + timedelta(seconds=index), settings=SETTINGS)
                session.commit()

    run_in_threads(worker, 6)
    rows = notifications(url)
    assert sorted(row.group_id for row in rows) == sorted(groups)  # each group new once
    with session_factory(url)() as session:
        assert session.scalar(select(func.sum(GroupSignal.window_count))) == 20 * 6 * 10
