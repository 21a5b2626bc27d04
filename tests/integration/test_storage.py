"""Storing intake results on SQLite and PostgreSQL through the intake store, with real connections."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from workers.classification import Classifier
from workers.intake import queries, store
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


def test_occurrences_group_by_fingerprint_and_count(database_url, classifier):
    sessions = session_factory(database_url)
    first = store.store_accepted(sessions(), accepted(classifier, 1, occurred_at="2026-11-22T11:00:00Z"),
                                      delivery_id="d1", received_at=NOW)
    second = store.store_accepted(sessions(), accepted(classifier, 2, occurred_at="2026-11-22T10:00:00+00:00"),
                                       delivery_id="d2", received_at=NOW)
    assert first.group_id == second.group_id and not second.duplicate
    with sessions() as session:
        group = queries.get_group(session, first.group_id)
        assert group.occurrence_count == 2
        assert group.first_seen == datetime(2026, 11, 22, 10, tzinfo=UTC)
        assert group.last_seen == datetime(2026, 11, 22, 11, tzinfo=UTC)
        assert group.category == "timeout"


def test_same_delivery_or_idempotency_key_is_stored_once(database_url, classifier):
    sessions = session_factory(database_url)
    stored = store.store_accepted(sessions(), accepted(classifier, idempotency_key="k1"), delivery_id="a",
                                       received_at=NOW)
    again_key = store.store_accepted(sessions(), accepted(classifier, idempotency_key="k1"), delivery_id="b",
                                          received_at=NOW)
    again_delivery = store.store_accepted(sessions(), accepted(classifier), delivery_id="a", received_at=NOW)
    assert not stored.duplicate and again_key.duplicate and again_delivery.duplicate
    with sessions() as session:
        assert queries.get_group(session, stored.group_id).occurrence_count == 1


def test_concurrent_writers_count_every_occurrence_once(database_url, classifier):
    sessions = session_factory(database_url)
    events = [accepted(classifier, n) for n in range(40)]

    def store(n: int):
        return store.store_accepted(sessions(), events[n], delivery_id=f"c{n % 30}", received_at=NOW)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(store, range(40)))
    assert sum(not r.duplicate for r in results) == 30
    with sessions() as session:
        assert queries.get_group(session, results[0].group_id).occurrence_count == 30


def test_rejected_events_are_kept_once_and_listed(database_url):
    sessions = session_factory(database_url)
    rejected = Rejected(reason="invalid event: service: Field required", payload='{"x": 1}', payload_bytes=8)
    assert store.store_rejected(sessions(), rejected, delivery_id="r1", received_at=NOW)
    assert not store.store_rejected(sessions(), rejected, delivery_id="r1", received_at=NOW)
    with sessions() as session:
        [row] = queries.list_rejected(session, since=NOW - timedelta(minutes=1))
        assert row.reason.endswith("Field required")


def test_listing_filters_and_stats(database_url, classifier):
    sessions = session_factory(database_url)
    store.store_accepted(sessions(), accepted(classifier, 1), delivery_id="s1", received_at=NOW)
    store.store_accepted(sessions(), accepted(classifier, 1, error_type="KeyError", message="'id'"),
                              delivery_id="s2", received_at=NOW)
    with sessions() as session:
        assert [g.category for g in queries.list_groups(session, category="internal")] == ["internal"]
        assert queries.list_groups(session, service="nope") == []
        summary = queries.stats(session, now=NOW + timedelta(minutes=5))
    assert summary["groups"] == 2 and summary["occurrences"] == 2
    assert summary["by_category"]["timeout"]["occurrences"] == 1
    assert summary["occurrences_last_3600s"] == 2
