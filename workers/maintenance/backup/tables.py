"""Which tables are medic's, and how many rows each holds: what an archive holds and a restore must give back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from workers.storage.models import Base

# Alembic's table: a restored database must say which schema revision it is at.
REVISION_TABLE = "alembic_version"
SQLITE, POSTGRESQL = "sqlite", "postgresql"


def medic_tables() -> list[str]:
    return [table.name for table in Base.metadata.sorted_tables] + [REVISION_TABLE]


def database_kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in (SQLITE, POSTGRESQL):
        raise ValueError(f"unsupported database {backend!r}")
    return backend


def masked_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def connection(url: str) -> Iterator[Connection]:
    """A connection that leaves no pooled connection behind: for copies, targets, scratch databases."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def present_tables(connection: Connection) -> list[str]:
    """medic's tables that exist in the connection's default schema, in dependency order."""
    existing = set(inspect(connection).get_table_names())
    return [name for name in medic_tables() if name in existing]


def count_rows(connection: Connection, tables: list[str]) -> dict[str, int]:
    quote = connection.dialect.identifier_preparer.quote
    return {name: connection.execute(text(f"SELECT count(*) FROM {quote(name)}")).scalar_one() for name in tables}


@dataclass(frozen=True)
class DatabaseState:
    """What a restore would overwrite: whether the database exists, its schema revision, medic's rows."""

    exists: bool
    revision: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    unreadable: str | None = None  # why it could not be read (a broken database is what one restores over)

    @property
    def has_medic_tables(self) -> bool:
        return bool(self.rows)

    def describe(self) -> str:
        if not self.exists:
            return "does not exist yet"
        if self.unreadable:
            return f"cannot be read ({self.unreadable})"
        if not self.rows:
            return "holds no medic tables"
        return (f"holds {sum(self.rows.values())} rows in {len(self.rows)} medic tables, "
                f"schema revision {self.revision or 'none'}")


def state(url: str) -> DatabaseState:
    """What the existing database at `url` holds."""
    try:
        with connection(url) as conn:
            return DatabaseState(exists=True, revision=revision(conn), rows=count_rows(conn, present_tables(conn)))
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        return DatabaseState(exists=True, unreadable=f"{type(cause).__name__}: {cause}")


def revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    """Differences between the row counts an archive declares and those found, one line each."""
    problems = [f"table {name}: {expected[name]} rows expected, {actual.get(name, 'no table')} found"
                for name in expected if actual.get(name) != expected[name]]
    problems += [f"table {name}: not in the archive's manifest" for name in actual if name not in expected]
    return problems
