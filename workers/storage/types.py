"""Column types of medic's own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator

from workers.clock import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp written in UTC and always read back aware, in UTC, whatever the backend.

    SQLite keeps no offset: it stores the wall time it is given and hands back naive datetimes,
    so a moment in another zone would be stored wrongly and compare wrongly. PostgreSQL returns
    the session's zone. The column stays TIMESTAMP WITH TIME ZONE (DATETIME on SQLite).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        # `column + timedelta(...)` and the like: the other operand is not a timestamp.
        return self if isinstance(value, datetime) else self.impl_instance.coerce_compared_value(op, value)
