"""Where each event of POST /api/events goes (workers.api.ingest.deliver), over ports that record calls."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from config.errors import StorageUnavailable
from config.settings import load_settings
from workers.api.ingest import BrokerDown, Stored, Unavailable, deliver
from workers.intake.service import IntakeService, Outcome
from workers.intake.store import Arrival
from workers.intake.triage import Rejected

VALID = {"error_type": "TimeoutError", "message": "read timed out", "service": "checkout"}
INVALID = {"message": "no error_type", "service": "checkout"}


class FakePorts:
    """The broker takes `broker_takes` publishes, then is down; the database is up unless told."""

    def __init__(self, *, broker_takes: int = 1_000, database_up: bool = True):
        self.broker_takes = broker_takes
        self.database_up = database_up
        self.published: list[str] = []
        self.stored: list[list[str]] = []

    def publish(self, raw, *, task_id: str) -> None:
        if len(self.published) >= self.broker_takes:
            raise BrokerDown()
        self.published.append(task_id)

    def store(self, arrivals: Sequence[Arrival]) -> dict[str, Stored]:
        if not self.database_up:
            raise StorageUnavailable("database unavailable: refused")
        self.stored.append([a.delivery_id for a in arrivals])
        stored = {}
        for n, arrival in enumerate(arrivals):
            if isinstance(arrival.decision, Rejected):
                stored[arrival.delivery_id] = Stored(Outcome("rejected", reason=arrival.decision.reason), 100 + n)
            else:
                stored[arrival.delivery_id] = Stored(Outcome("stored", group_id=7, occurrence_id=200 + n))
        return stored


@pytest.fixture(scope="module")
def intake():
    return IntakeService(load_settings())


def run(intake, raws, ports):
    decisions = [intake.decide(raw) for raw in raws]
    return deliver(raws, decisions, delivery_ids=[f"d{n}" for n in range(len(raws))], ports=ports)


def shown(items):
    return [(i.index, i.status, i.via, i.id) for i in items]


def test_accepted_events_are_published_and_rejections_stored_with_their_ids(intake):
    ports = FakePorts()
    items = run(intake, [VALID, INVALID, VALID], ports)
    assert shown(items) == [(0, "accepted", "broker", "d0"), (1, "rejected", "direct", 100),
                            (2, "accepted", "broker", "d2")]
    assert items[1].reason == "invalid event: error_type: Field required"
    assert ports.published == ["d0", "d2"] and ports.stored == [["d1"]]


def test_the_database_is_not_touched_when_every_event_is_published(intake):
    ports = FakePorts(database_up=False)
    assert shown(run(intake, [VALID, VALID], ports)) == [(0, "accepted", "broker", "d0"),
                                                         (1, "accepted", "broker", "d1")]


def test_once_the_broker_fails_the_rest_is_stored_directly_in_one_transaction(intake):
    ports = FakePorts(broker_takes=1)
    items = run(intake, [VALID, VALID, INVALID, VALID], ports)
    assert shown(items) == [(0, "accepted", "broker", "d0"), (1, "accepted", "direct", 200),
                            (2, "rejected", "direct", 101), (3, "accepted", "direct", 202)]
    assert ports.published == ["d0"]  # not tried again after it failed
    assert ports.stored == [["d1", "d2", "d3"]]
    assert items[1].as_dict() == {"index": 1, "status": "accepted", "via": "direct", "id": 200, "group_id": 7}


def test_with_the_database_down_rejections_are_published_for_a_worker_to_keep(intake):
    ports = FakePorts(database_up=False)
    items = run(intake, [INVALID, VALID], ports)
    assert shown(items) == [(0, "rejected", "broker", "d0"), (1, "accepted", "broker", "d1")]
    assert items[0].reason.startswith("invalid event")


@pytest.mark.parametrize("broker_takes", [0, 1])
def test_with_both_down_nothing_is_claimed_accepted(intake, broker_takes):
    ports = FakePorts(broker_takes=broker_takes, database_up=False)
    with pytest.raises(Unavailable) as raised:
        run(intake, [VALID, VALID], ports)
    assert "broker and the database are unavailable" in raised.value.detail
    # what went out before the broker failed is said, so a client can tell
    assert [i.index for i in raised.value.published] == list(range(broker_takes))


def test_duplicates_say_so_and_have_no_id_of_their_own(intake):
    class DuplicatePorts(FakePorts):
        def store(self, arrivals):
            return {a.delivery_id: Stored(Outcome("duplicate", group_id=3)) for a in arrivals}

    item, = run(intake, [VALID], DuplicatePorts(broker_takes=0))
    assert item.as_dict() == {"index": 0, "status": "accepted", "via": "direct", "id": None, "group_id": 3,
                              "duplicate": True}


def test_an_event_the_database_refuses_is_a_rejection(intake):
    class RefusingPorts(FakePorts):
        def store(self, arrivals):
            return {a.delivery_id: Stored(Outcome("rejected", reason="the database refused the event: x"), 9)
                    for a in arrivals}

    item, = run(intake, [VALID], RefusingPorts(broker_takes=0))
    assert (item.status, item.via, item.id) == ("rejected", "direct", 9)
    assert item.reason == "the database refused the event: x"
