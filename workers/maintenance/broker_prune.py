"""Pruning the embedded broker: kombu's SQLAlchemy transport on SQLite keeps every message row forever.

What the transport does with a row (kombu/transport/sqlalchemy, kombu 5.x):
- a publish inserts it, visible, with `timestamp` NULL (the column only has an onupdate);
- a worker taking it sets visible = false in the same transaction that selects it, which stamps
  `timestamp` with `datetime.now()` (naive local time);
- nothing else ever touches it: an ack only forgets the message in the worker's memory, and a
  message restored (rejected with requeue, or still unacked when its channel closes) is
  published again as a new row, from the copy in memory.
So the transport never reads a row with visible = false again: deleting one cannot lose or
duplicate a message, even one still in flight. The retention is a margin on top of that: a
row is kept until well after any worker could still hold its message (checked against the
time limits), so pruning never races a delivery and recent deliveries stay inspectable.

Rows still visible (waiting to be delivered) are never deleted, however old.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from config.urls import sqlite_broker_file

MESSAGE_TABLE = "kombu_message"  # the transport's default; medic sets no message_tablename
SQLITE_BUSY_TIMEOUT_S = 15
# `+visible` keeps SQLite off the index on visible (most rows are delivered) and on the one on
# timestamp, which serves both the range and the order.
_EXPIRED = f"FROM {MESSAGE_TABLE} WHERE +visible = 0 AND timestamp < ?"


def broker_file(broker_url: str) -> Path | None:
    """The SQLite file of an embedded broker; None for any other broker."""
    return sqlite_broker_file(broker_url)


@dataclass(frozen=True)
class EmbeddedBroker:
    path: Path
    cutoff: datetime  # naive local time, as kombu stamps rows

    @classmethod
    def of(cls, broker_url: str, cutoff: datetime | None) -> EmbeddedBroker | None:
        """The broker to prune, or None: not the SQLite transport, pruning disabled, or no broker file yet."""
        path = broker_file(broker_url)
        if path is None or cutoff is None or not path.exists():
            return None
        broker = cls(path, cutoff)
        return broker if broker._has_messages_table() else None

    def count(self) -> int:
        with closing(self._connect()) as connection:
            return connection.execute(f"SELECT count(*) {_EXPIRED}", (self._cutoff_text,)).fetchone()[0]

    def delete_batch(self, limit: int) -> tuple[int, int]:
        """Delete up to `limit` delivered rows older than the cutoff, oldest first -> (selected, deleted)."""
        with closing(self._connect()) as connection:
            ids = [row[0] for row in connection.execute(
                f"SELECT id {_EXPIRED} ORDER BY timestamp LIMIT ?", (self._cutoff_text, limit))]
            if not ids:
                return 0, 0
            marks = ", ".join("?" * len(ids))
            deleted = connection.execute(f"DELETE FROM {MESSAGE_TABLE} WHERE +visible = 0 AND id IN ({marks})",
                                         ids).rowcount
            connection.commit()
            return len(ids), deleted

    @property
    def _cutoff_text(self) -> str:
        # How SQLAlchemy stores a DateTime in SQLite; such strings compare in time order.
        return self.cutoff.isoformat(sep=" ", timespec="microseconds")

    def _connect(self) -> sqlite3.Connection:
        # mode=rw: never create a broker file; the journal mode stays what the transport made it.
        return sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)

    def _has_messages_table(self) -> bool:
        with closing(self._connect()) as connection:
            return connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                      (MESSAGE_TABLE,)).fetchone() is not None
