"""Migration 0007: the installation's time, from its first maintenance run when it has run before,
else now; a fresh install is not judged on backups before its first one is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.support import services
from tests.support.databases import database_at
from workers.clock import utcnow
from workers.storage import migrate
from workers.storage.db import session_factory
from workers.storage.models import Installation, MaintenanceRun

pytestmark = pytest.mark.integration

@pytest.fixture(params=["sqlite", "postgresql"])
def at_0006(request, tmp_path):
    """An empty database migrated to 0006 only."""
    with database_at(request.param, tmp_path, "0006") as url:
        yield url


def installed_at(url: str) -> datetime:
    with session_factory(url)() as session:
        return session.scalars(select(Installation.installed_at)).one()


def test_a_database_that_ran_before_dates_from_its_first_maintenance_run(at_0006):
    now = datetime.now(UTC)
    with session_factory(at_0006)() as session:
        for days in (10, 3):
            session.add(MaintenanceRun(job="health", trigger="beat", host="h:1", status="succeeded",
                                       started_at=now - timedelta(days=days), counts={}))
        session.commit()
    migrate.upgrade(at_0006)
    assert abs(installed_at(at_0006) - (now - timedelta(days=10))) < timedelta(seconds=1)


def test_a_fresh_database_dates_from_now(at_0006):
    migrate.upgrade(at_0006)
    assert abs(installed_at(at_0006) - utcnow()) < timedelta(minutes=1)


def test_a_fresh_install_is_healthy_without_a_backup(tmp_path):
    env = services.medic_env(data_dir=tmp_path / "data")
    assert services.run_medic(env, "db", "upgrade").returncode == 0
    result = services.run_medic(env, "health", "--json")
    assert "no verified backup" not in result.stdout, result.stdout
