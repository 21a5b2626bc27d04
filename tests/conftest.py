"""Fixtures shared by all tests: real PostgreSQL databases, the run's own Redis db."""

from __future__ import annotations

import os
import tempfile

import pytest

from tests.support import services
from tests.support.databases import drop_pg


@pytest.fixture(autouse=True)
def _no_ambient_medic_settings(monkeypatch):
    """Tests see only the MEDIC_* settings they set themselves."""
    for key in [k for k in os.environ if k.startswith("MEDIC_") and not k.startswith("MEDIC_TEST_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def pg_database():
    """A fresh, migrated PostgreSQL database; yields its name."""
    from workers.storage import migrate

    name = services.create_pg_database()
    migrate.upgrade(services.pg_url(name))
    try:
        yield name
    finally:
        drop_pg(name)


@pytest.fixture
def sqlite_url(tmp_path):
    from workers.storage import migrate

    url = f"sqlite:///{tmp_path / 'medic.sqlite'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The same test on both databases medic supports."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return services.pg_url(request.getfixturevalue("pg_database"))


@pytest.fixture
def redis_url():
    """The run's own Redis db (claimed at first use, see tests/support/redisdb.py), empty at the start and the end."""
    services.flush_redis()
    yield services.redis_url()
    services.flush_redis()


def pytest_configure(config):
    services.IN_TEST_RUN = True
    # The default data directory is the user's (platformdirs): a test that leaves MEDIC_DATA_DIR unset
    # must find a directory of this run's, never the real user's.
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="medic-test-xdg-")


def pytest_unconfigure(config):
    services.release_redis()


def pytest_terminal_summary(terminalreporter):
    url = services.claimed_redis_url()
    if url:
        terminalreporter.write_line(f"Redis db of this run: {url}")
