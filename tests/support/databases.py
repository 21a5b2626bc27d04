"""Databases for migration tests: an empty one migrated to a given revision, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import services


def drop_pg(name: str) -> None:
    """Drop a test's PostgreSQL database, after closing the pooled connections medic opened to it."""
    from workers.storage.db import _engines

    for url in [u for u in _engines if name in u]:
        _engines.pop(url).dispose()
    services.drop_pg_database(name)


@contextmanager
def database_at(kind: str, tmp_path: Path, revision: str = "head") -> Iterator[str]:
    """An empty `kind` database (sqlite, postgresql) migrated to `revision`; yields its URL."""
    from workers.storage import migrate

    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'medic.sqlite'}"
        migrate.upgrade(url, revision)
        yield url
        return
    name = services.create_pg_database()
    try:
        url = services.pg_url(name)
        migrate.upgrade(url, revision)
        yield url
    finally:
        drop_pg(name)
