"""Pruning the embedded broker: a real kombu SQLAlchemy-transport broker on SQLite.

Messages are published and consumed with kombu; rows are backdated with SQL to put them past
the retention (kombu stamps a row when a worker takes it).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta

import pytest
from kombu import Connection

from config.settings import Settings
from workers.maintenance import cleanup
from workers.maintenance.job import JobContext
from workers.storage.db import session_factory

pytestmark = pytest.mark.integration

QUEUE = "medic.errors"
LONG_AGO = (datetime.now() - timedelta(days=2)).isoformat(sep=" ", timespec="microseconds")  # local, as kombu stamps


def broker_rows(path) -> dict[int, tuple[int, int, str | None]]:
    """Message number -> (row id, visible, timestamp), the latest row of each message."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT id, visible, timestamp, payload FROM kombu_message ORDER BY id").fetchall()
    return {json.loads(base64.b64decode(json.loads(payload)["body"]))["n"]: (row_id, visible, stamp)
            for row_id, visible, stamp, payload in rows}


def backdate(path, *row_ids: int) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.executemany("UPDATE kombu_message SET timestamp = ? WHERE id = ?", [(LONG_AGO, i) for i in row_ids])
        db.commit()


def run_cleanup(sqlite_url: str, broker_url: str, tmp_path, *, dry_run: bool = False):
    settings = Settings(database_url=sqlite_url, broker_url=broker_url, data_dir=tmp_path)
    return cleanup.run(JobContext(settings=settings, sessions=session_factory(sqlite_url), dry_run=dry_run))


@pytest.fixture
def broker(tmp_path):
    path = tmp_path / "broker.sqlite"
    return path, f"sqla+sqlite:///{path}"


def test_delivered_rows_past_retention_go_and_messages_in_flight_stay_deliverable(broker, sqlite_url, tmp_path):
    path, url = broker
    with Connection(url) as producer:
        with producer.SimpleQueue(QUEUE) as queue:
            for n in range(6):
                queue.put({"n": n})
    consumer = Connection(url)
    queue = consumer.SimpleQueue(QUEUE)
    for _ in range(3):  # 0-2: delivered and acknowledged
        queue.get(timeout=5).ack()
    held_long = queue.get(timeout=5)  # 3: in flight (unacked) for longer than the retention
    held = queue.get(timeout=5)  # 4: in flight, taken just now
    assert (held_long.payload, held.payload) == ({"n": 3}, {"n": 4})
    rows = broker_rows(path)  # 5 is still waiting: visible, never stamped
    assert [rows[n][1] for n in range(6)] == [0, 0, 0, 0, 0, 1]
    backdate(path, *(rows[n][0] for n in (0, 1, 2, 3, 5)))  # 5 too: visible rows stay however old

    dry = run_cleanup(sqlite_url, url, tmp_path, dry_run=True)
    assert dry.counts["broker_messages"] == 4
    assert broker_rows(path) == {**rows, 5: (rows[5][0], 1, LONG_AGO),
                                 **{n: (rows[n][0], 0, LONG_AGO) for n in (0, 1, 2, 3)}}

    result = run_cleanup(sqlite_url, url, tmp_path)
    assert result.counts["broker_messages"] == 4
    left = broker_rows(path)
    assert sorted(left) == [4, 5]
    assert left[4] == rows[4]  # the row of the message taken just now is kept

    # The consumer goes away without acknowledging: kombu publishes its unacked messages again,
    # from memory, including the one whose row was pruned.
    queue.close()
    consumer.close()
    restored = broker_rows(path)
    assert all(restored[n][0] > rows[5][0] and restored[n][1] == 1 for n in (3, 4))  # new rows, waiting
    with Connection(url) as again:
        with again.SimpleQueue(QUEUE) as queue:
            received = [queue.get(timeout=5) for _ in range(3)]
            for message in received:
                message.ack()
    assert sorted(m.payload["n"] for m in received) == [3, 4, 5]

    assert run_cleanup(sqlite_url, url, tmp_path).counts["broker_messages"] == 0  # taken just now


def test_only_the_sqlite_transport_is_pruned_and_no_broker_file_is_created(broker, sqlite_url, tmp_path):
    path, url = broker
    assert "broker_messages" not in run_cleanup(sqlite_url, url, tmp_path).counts
    assert not path.exists()
    assert "broker_messages" not in run_cleanup(sqlite_url, "memory://", tmp_path).counts
