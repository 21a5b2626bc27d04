"""medic's embedded broker: kombu's SQLAlchemy transport made at least once, like Redis.

kombu's transport marks a row invisible when it delivers it and never looks at it again: only a
clean shutdown puts unacknowledged messages back (by publishing copies). A `medic run` killed
outright (SIGKILL, the OOM killer, a power cut) lost the messages it held, and delivered rows
piled up in the file. This transport, registered with kombu as `medic` (URL `medic+sqlite:///…`,
the embedded default), changes what consuming does and nothing of the tables, so an app may still
publish with the stock `sqla+sqlite:///…` URL:

- a delivered row stays, invisible, stamped with its delivery time (the table's `timestamp`), and
  the row's id travels with the message;
- acknowledging deletes the row; rejecting deletes it, or makes it visible again when requeued;
  a clean shutdown makes the rows it held visible again (no copies);
- while the file cannot be written (a full disk), polls find nothing and the consumer tries again
  after a growing pause (up to 5 s), where kombu's would reconnect until the worker gave up;
- a row delivered longer ago than the visibility timeout (MEDIC_BROKER_VISIBILITY_TIMEOUT_S, set
  on `Channel.visibility_timeout_s` by config/celery_app.py) is delivered again: its consumer is
  gone, or holds it past every time limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from kombu.transport import sqlalchemy as kombu_sqlalchemy
from kombu.transport.virtual import Message
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from sqlalchemy import or_, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

# The message property that carries its row's id from the delivery to the acknowledgement.
ROW_PROPERTY = "medic_broker_row"
DEFAULT_VISIBILITY_TIMEOUT_S = 300.0
# Pauses between tries while the broker's file cannot be written (a full disk), doubling.
WAIT_FIRST_S, WAIT_MAX_S = 0.5, 5.0

log = logging.getLogger("medic.broker")


class Channel(kombu_sqlalchemy.Channel):
    visibility_timeout_s: float = DEFAULT_VISIBILITY_TIMEOUT_S

    _waiting_until = 0.0  # time.monotonic(): polls before this find nothing (the file cannot be written)
    _wait_s = 0.0

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        """The next message; none while the file cannot be written (a full disk): the consumer waits,
        trying again after a growing pause, instead of reconnecting until it gives up."""
        if time.monotonic() < self._waiting_until:
            raise kombu_sqlalchemy.Empty()
        try:
            payload = self._take(queue)
        except OperationalError as exc:
            self._wait_s = min(WAIT_MAX_S, max(WAIT_FIRST_S, 2 * self._wait_s))
            self._waiting_until = time.monotonic() + self._wait_s
            if self._wait_s == WAIT_FIRST_S:
                log.warning("the embedded broker cannot be written; waiting, trying again every few seconds",
                            extra={"error": str(exc.orig or exc).splitlines()[0]})
            raise kombu_sqlalchemy.Empty() from None
        if self._wait_s:
            log.warning("the embedded broker can be written again")
            self._wait_s = 0.0
        return payload

    def _take(self, queue: Any) -> Any:
        found = self._get_or_create(queue)
        try:
            if self.session.bind.name == "sqlite":
                self.session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
            now = datetime.now()  # the table's timestamps are kombu's: naive local time
            rows = self.message_cls
            row = (self.session.query(rows).with_for_update()
                   .filter(rows.queue_id == found.id)
                   .filter(or_(rows.visible != False,  # noqa: E712  (a SQL expression)
                               rows.sent_at <= now - timedelta(seconds=self.visibility_timeout_s)))
                   .order_by(rows.sent_at).order_by(rows.id).limit(1).first())
            if row is None:
                self.session.commit()
                raise kombu_sqlalchemy.Empty()
            row.visible, row.sent_at = False, now
            payload = loads(bytes_to_str(row.payload))
            payload.setdefault("properties", {})[ROW_PROPERTY] = row.id
            self.session.commit()
            return payload
        except OperationalError:
            self.session.rollback()
            raise

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        row = self._row_of(delivery_tag)
        super().basic_ack(delivery_tag, multiple)
        if row is not None:
            self._delete(row)

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        row = self._row_of(delivery_tag)
        super().basic_reject(delivery_tag, requeue=requeue)  # a requeue comes back through _restore
        if row is not None and not requeue:
            self._delete(row)

    def _restore(self, message: Message) -> None:
        row = message.properties.get(ROW_PROPERTY)
        if row is None:
            super()._restore(message)
            return
        with self._writing() as session:
            session.query(self.message_cls).filter(self.message_cls.id == row).update(
                {"visible": True}, synchronize_session=False)

    _restore_at_beginning = _restore

    def delete_rows(self, rows: list[int]) -> None:
        """Acknowledged messages' rows gone, in one statement (workers/intake/acks.py for a batch)."""
        with self._writing() as session:
            session.query(self.message_cls).filter(self.message_cls.id.in_(rows)).delete(synchronize_session=False)

    def _row_of(self, delivery_tag: Any) -> int | None:
        try:
            return self.qos.get(delivery_tag).properties.get(ROW_PROPERTY)
        except KeyError:
            return None

    def _delete(self, row: int) -> None:
        self.delete_rows([row])

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A session of its own: acknowledgements may come from another thread than the consumer's
        polls, which use the channel's session."""
        _, sessions = self._open()
        session = sessions()
        try:
            yield session
            session.commit()
        except OperationalError:
            session.rollback()
            raise
        finally:
            session.close()


class Transport(kombu_sqlalchemy.Transport):
    Channel = Channel
