"""Storing intake results a batch at a time on SQLite and PostgreSQL, with real connections."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from workers.classification import Classifier
from workers.intake import queries, store
from workers.intake.store import Arrival, BatchWrite
from workers.intake.triage import Accepted, Limits, Rejected, triage
from workers.storage.db import session_factory

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LIMITS = Limits(8192, 32768, 65536, 262144, 12, 16384)


@pytest.fixture(scope="module")
def classifier():
    return Classifier.from_files()


def accepted(classifier, n: int = 1, **fields) -> Accepted:
    raw = {"error_type": "TimeoutError", "message": f"timed out after {n}s", "service": "search", **fields}
    result = triage(raw, limits=LIMITS, classifier=classifier, received_at=NOW)
    assert isinstance(result, Accepted)
    return result


def write(sessions, *arrivals: Arrival) -> BatchWrite:
    with sessions() as session:
        result = store.store_batch(session, arrivals, received_at=NOW)
        session.commit()
    return result


def stored_ids(result: BatchWrite) -> list[str]:
    return sorted(new.delivery_id for new in result.stored)


def test_occurrences_group_by_fingerprint_and_count(database_url, classifier):
    sessions = session_factory(database_url)
    first = write(sessions, Arrival("d1", accepted(classifier, 1, occurred_at="2026-11-22T11:00:00Z")))
    second = write(sessions, Arrival("d2", accepted(classifier, 2, occurred_at="2026-11-22T10:00:00+00:00")))
    assert first.stored[0].group_id == second.stored[0].group_id
    assert first.groups[0].new and not second.groups[0].new
    with sessions() as session:
        group = queries.get_group(session, first.stored[0].group_id)
        assert group.occurrence_count == 2
        assert group.first_seen == datetime(2026, 11, 22, 10, tzinfo=UTC)
        assert group.last_seen == datetime(2026, 11, 22, 11, tzinfo=UTC)
        assert group.category == "timeout"


def test_a_batch_counts_each_group_once_with_all_its_occurrences(database_url, classifier):
    sessions = session_factory(database_url)
    result = write(sessions, *(Arrival(f"b{n}", accepted(classifier, n)) for n in range(5)),
                   Arrival("k", accepted(classifier, 1, error_type="KeyError", message="'id'")))
    assert len(result.stored) == 6 and sorted(g.occurrences for g in result.groups) == [1, 5]
    with sessions() as session:
        counts = sorted(g.occurrence_count for g in queries.list_groups(session))
    assert counts == [1, 5]


def test_same_delivery_or_idempotency_key_is_stored_once(database_url, classifier):
    sessions = session_factory(database_url)
    stored = write(sessions, Arrival("a", accepted(classifier, idempotency_key="k1")))
    again = write(sessions, Arrival("b", accepted(classifier, idempotency_key="k1")),
                  Arrival("a", accepted(classifier)))
    assert stored_ids(stored) == ["a"] and again.stored == [] and set(again.duplicates) == {"a", "b"}
    assert again.duplicates["a"] == stored.stored[0].group_id
    with sessions() as session:
        assert queries.get_group(session, stored.stored[0].group_id).occurrence_count == 1


def test_duplicates_inside_one_batch_are_stored_once(database_url, classifier):
    sessions = session_factory(database_url)
    result = write(sessions, Arrival("x", accepted(classifier, 1)), Arrival("x", accepted(classifier, 1)),
                   Arrival("y", accepted(classifier, 2, idempotency_key="k")),
                   Arrival("z", accepted(classifier, 3, idempotency_key="k")))
    assert stored_ids(result) == ["x", "y"] and set(result.duplicates) == {"x", "z"}
    with sessions() as session:
        assert queries.get_group(session, result.stored[0].group_id).occurrence_count == 2


def test_concurrent_batches_count_every_occurrence_once(database_url, classifier):
    sessions = session_factory(database_url)
    events = [accepted(classifier, n) for n in range(40)]

    def write_batch(offset: int) -> BatchWrite:
        # Overlapping deliveries, in different orders: each occurrence is counted once and nobody deadlocks.
        ids = [(offset * 7 + n) % 30 for n in range(10)]
        return write(sessions, *(Arrival(f"c{i}", events[i]) for i in (ids if offset % 2 else reversed(ids))))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(write_batch, range(24)))
    stored = [new for r in results for new in r.stored]
    assert len(stored) == len({new.delivery_id for new in stored}) == 30
    with sessions() as session:
        assert queries.get_group(session, stored[0].group_id).occurrence_count == 30


def test_a_resolved_group_regresses_and_reopens(database_url, classifier):
    sessions = session_factory(database_url)
    first = write(sessions, Arrival("r1", accepted(classifier, 1)))
    group_id = first.stored[0].group_id
    with sessions() as session:
        queries.get_group(session, group_id).status = "resolved"
        session.commit()
    [change] = write(sessions, Arrival("r2", accepted(classifier, 2))).groups
    assert change.regressed and not change.new and change.occurrences == 1
    with sessions() as session:
        assert queries.get_group(session, group_id).status == "open"


def test_rejected_events_are_kept_once_and_listed(database_url, classifier):
    sessions = session_factory(database_url)
    rejected = Rejected(reason="invalid event: service: Field required", payload='{"x": 1}', payload_bytes=8)
    first = write(sessions, Arrival("r1", rejected), Arrival("ok", accepted(classifier)))
    write(sessions, Arrival("r1", rejected))
    assert first.rejected == ["r1"] and stored_ids(first) == ["ok"]
    with sessions() as session:
        [row] = queries.list_rejected(session, since=NOW - timedelta(minutes=1))
        assert row.reason.endswith("Field required")


def test_listing_filters_and_stats(database_url, classifier):
    sessions = session_factory(database_url)
    write(sessions, Arrival("s1", accepted(classifier, 1)),
          Arrival("s2", accepted(classifier, 1, error_type="KeyError", message="'id'")))
    with sessions() as session:
        assert [g.category for g in queries.list_groups(session, category="internal")] == ["internal"]
        assert queries.list_groups(session, service="nope") == []
        summary = queries.stats(session, now=NOW + timedelta(minutes=5))
    assert summary["groups"] == 2 and summary["occurrences"] == 2
    assert summary["by_category"]["timeout"]["occurrences"] == 1
    assert summary["occurrences_last_3600s"] == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite stores a NUL character
def test_an_event_the_database_refuses_is_kept_as_rejected_and_its_batch_is_stored(database_url):
    from config.settings import load_settings
    from workers.intake.service import IntakeService

    intake = IntakeService(load_settings(database_url=database_url, broker_url="memory://"))
    outcomes = intake.store([Arrival("nul", intake.decide({"error_type": "E", "message": "a \x00 b", "service": "s"})),
                             Arrival("fine", intake.decide({"error_type": "E", "message": "fine", "service": "s"}))])
    assert outcomes["fine"].status == "stored"
    assert outcomes["nul"].status == "rejected" and "NUL" in outcomes["nul"].reason
    with session_factory(database_url)() as session:
        [kept] = queries.list_rejected(session)
    assert kept.delivery_id == "nul" and "\\u0000" in kept.payload
