"""Where breaker state is shared between processes and hosts: Redis, the database, or memory (tests).

Every write is a compare-and-set on a version number, so concurrent writers never lose an update:
the loser reloads and tries again (workers.breakers.service does the retrying).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol

import redis
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from config.errors import StorageUnavailable
from workers.breakers.policy import BreakerState
from workers.storage.db import guarded_session, rows_changed
from workers.storage.models import BreakerRecord

REDIS_PREFIX = "medic:breaker:"
# Keys fetched per round trip when listing every breaker.
SCAN_BATCH = 200


class BreakerStore(Protocol):
    def load(self, service: str) -> tuple[BreakerState, int | None]:
        """The state and its version; (closed, None) when nothing is stored yet."""

    def compare_and_set(self, service: str, expected_version: int | None, new: BreakerState, now: datetime) -> bool:
        """Store `new` if the version is still `expected_version` (None: no record yet); False if another won."""

    def all(self) -> dict[str, BreakerState]: ...

    def delete(self, service: str) -> None: ...


# One round trip and atomic on the server, so no WATCH connection to hold and no WatchError to catch.
_REDIS_CAS = """
local version = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
    if version then return 0 end
    version = 0
elseif version ~= ARGV[1] then
    return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'version', tonumber(version) + 1, 'updated_at', ARGV[3])
return 1
"""


class RedisBreakerStore:
    """One hash per service: state (JSON), version, updated_at."""

    def __init__(self, client: redis.Redis, prefix: str = REDIS_PREFIX):
        self._client, self._prefix = client, prefix
        self._cas = client.register_script(_REDIS_CAS)

    def load(self, service: str) -> tuple[BreakerState, int | None]:
        with _redis_guard():
            # redis-py types every command as sync-or-async (Awaitable | value); this client is sync.
            state, version = self._client.hmget(self._prefix + service, ["state", "version"])  # type: ignore[misc]
        if version is None:
            return BreakerState(), None
        return BreakerState.from_dict(json.loads(state)), int(version)

    def compare_and_set(self, service: str, expected_version: int | None, new: BreakerState, now: datetime) -> bool:
        expected = "" if expected_version is None else str(expected_version)
        args = [expected, json.dumps(new.to_dict()), now.isoformat()]
        with _redis_guard():
            return bool(self._cas(keys=[self._prefix + service], args=args))

    def all(self) -> dict[str, BreakerState]:
        with _redis_guard():
            keys = list(self._client.scan_iter(match=_glob_escape(self._prefix) + "*", count=SCAN_BATCH))
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.hget(key, "state")
            states = pipe.execute()
        found = {}
        for key, state in zip(keys, states, strict=True):
            if state is not None:  # deleted between the scan and the read
                found[_text(key).removeprefix(self._prefix)] = BreakerState.from_dict(json.loads(state))
        return found

    def delete(self, service: str) -> None:
        with _redis_guard():
            self._client.delete(self._prefix + service)


class SqlBreakerStore:
    """The `breakers` table: one row per service, version bumped by every write."""

    def __init__(self, sessions: sessionmaker[Session]):
        self._sessions = sessions

    def load(self, service: str) -> tuple[BreakerState, int | None]:
        with guarded_session(self._sessions) as session:
            row = session.execute(select(BreakerRecord.state, BreakerRecord.version)
                                  .where(BreakerRecord.service == service)).one_or_none()
        return (BreakerState(), None) if row is None else (BreakerState.from_dict(row.state), row.version)

    def compare_and_set(self, service: str, expected_version: int | None, new: BreakerState, now: datetime) -> bool:
        if expected_version is None:
            return self._insert(service, new, now)
        with guarded_session(self._sessions) as session:
            won = rows_changed(session, update(BreakerRecord.__table__)
                               .where(BreakerRecord.service == service, BreakerRecord.version == expected_version)
                               .values(state=new.to_dict(), version=BreakerRecord.version + 1, updated_at=now)) == 1
            session.commit()
        return won

    def _insert(self, service: str, new: BreakerState, now: datetime) -> bool:
        with guarded_session(self._sessions) as session:
            session.add(BreakerRecord(service=service, state=new.to_dict(), version=1, updated_at=now))
            try:
                session.commit()
            except IntegrityError:  # another process inserted it first
                session.rollback()
                return False
        return True

    def all(self) -> dict[str, BreakerState]:
        with guarded_session(self._sessions) as session:
            rows = session.execute(select(BreakerRecord.service, BreakerRecord.state)).all()
        return {row.service: BreakerState.from_dict(row.state) for row in rows}

    def delete(self, service: str) -> None:
        with guarded_session(self._sessions) as session:
            session.execute(delete(BreakerRecord.__table__).where(BreakerRecord.service == service))
            session.commit()


class MemoryBreakerStore:
    """In one process only: for tests and single-process tools."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[BreakerState, int]] = {}
        self._lock = threading.Lock()

    def load(self, service: str) -> tuple[BreakerState, int | None]:
        with self._lock:
            return self._records.get(service, (BreakerState(), None))

    def compare_and_set(self, service: str, expected_version: int | None, new: BreakerState, now: datetime) -> bool:
        with self._lock:
            version = self._records.get(service, (None, None))[1]
            if version != expected_version:
                return False
            self._records[service] = (new, (version or 0) + 1)
            return True

    def all(self) -> dict[str, BreakerState]:
        with self._lock:
            return {service: state for service, (state, _) in self._records.items()}

    def delete(self, service: str) -> None:
        with self._lock:
            self._records.pop(service, None)


@contextmanager
def _redis_guard() -> Iterator[None]:
    """Redis that cannot be reached surfaces as StorageUnavailable, as the database does."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StorageUnavailable(f"redis unavailable: {type(exc).__name__}: {exc}".strip()) from exc


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key
