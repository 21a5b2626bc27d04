"""Engines and sessions for medic's database (SQLite embedded, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Executable, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from config.errors import StorageUnavailable

# Errors that mean "the database cannot be reached or is busy now", not "this data is bad".
TRANSIENT_DB_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)
# How long a SQLite writer waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 15_000


def make_engine(url: str, *, pre_ping: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Disconnects are handled optimistically: a stale pooled connection fails its statement, SQLAlchemy
    # invalidates the pool, and the task retries (every medic task retries on StorageUnavailable).
    # A pre-ping would instead cost a round trip on every checkout, two per recovery attempt.
    # A long-lived reader such as `medic serve` asks for pre_ping: after a database restart its
    # first request then reconnects instead of failing.
    return create_engine(url, pool_size=5, max_overflow=5, pool_recycle=1800, pool_pre_ping=pre_ping,
                         connect_args={"connect_timeout": 5})


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


_engines: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """One engine per URL per process."""
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url), expire_on_commit=False)


def forget_inherited_engines() -> None:
    """After fork: drop the parent's pooled connections without closing them under it."""
    for engine in _engines.values():
        engine.dispose(close=False)


def rows_changed(session: Session, statement: Executable) -> int:
    """How many rows an UPDATE or DELETE changed (it returns a CursorResult; the stubs say Result)."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


@contextmanager
def guarded_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transient database errors surface as StorageUnavailable."""
    session = factory()
    try:
        yield session
    except TRANSIENT_DB_ERRORS as exc:
        cause = getattr(exc, "orig", None) or exc
        raise StorageUnavailable(f"database unavailable: {type(cause).__name__}: {cause}".strip()) from exc
    finally:
        session.close()
