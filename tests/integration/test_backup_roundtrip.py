"""Backup -> restore gives back exactly the rows that were backed up, on SQLite and PostgreSQL:
in place (over changed and deleted data) and into a new database."""

from __future__ import annotations

import json
import random
import tarfile

import pytest
from sqlalchemy import create_engine, delete, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from config.settings import load_settings
from tests.support import services
from tests.support.recovery import RecordingDispatcher
from workers.intake.service import IntakeService
from workers.maintenance.backup import catalog, job, restore
from workers.maintenance.backup.errors import ArchiveUntrusted
from workers.maintenance.backup.lookup import locate
from workers.maintenance.backup.tables import medic_tables
from workers.maintenance.job import JobContext
from workers.recovery.service import RecoveryService
from workers.storage.db import session_factory
from workers.storage.models import Attempt, Base, ErrorGroup, Execution, Notification, RejectedEvent

pytestmark = pytest.mark.integration

NETWORK = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused", "service": "partner",
           "replay": {"kind": "celery", "task": "app.flaky", "args": [1], "queue": "app"}}
BUG = {"error_type": "KeyError", "message": "'sku'", "service": "shop"}
PASSWORD = "s3cret-pw"  # trust authentication ignores it; it must never be stored


def with_password(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return url
    return parsed.set(password=PASSWORD).render_as_string(hide_password=False)


def seed(settings, events: int = 25) -> None:
    """Groups, occurrences, executions, attempts, audit, notifications and rejected events."""
    service = RecoveryService(settings, dispatcher=RecordingDispatcher(), rng=random.Random(1))
    intake = IntakeService(settings, recovery=service)
    for i in range(events):
        intake.report({**NETWORK, "message": f"Connection refused {i % 5}", "context": {"order": i}},
                      delivery_id=f"seed-{i}")
    intake.report(BUG, delivery_id="bug")
    intake.report({"message": "no type, no service"}, delivery_id="bad")
    with session_factory(settings.database_url)() as session:
        bug = session.scalar(select(Attempt.id).join(Execution).where(Execution.plan_name == "bug"))
    service.run(bug)  # notify, then dead letter


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every medic table, in primary-key order."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = {table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
                    for table in Base.metadata.sorted_tables}
            versions = conn.execute(text("SELECT version_num FROM alembic_version"))
            rows["alembic_version"] = [tuple(row) for row in versions]
            return rows
    finally:
        engine.dispose()


def change_and_delete(url: str) -> None:
    with session_factory(url)() as session:
        session.execute(update(ErrorGroup).values(service="changed"))
        session.execute(update(Execution).values(state="cancelled"))
        session.execute(delete(Notification))
        session.execute(delete(RejectedEvent))
        session.commit()


def test_backup_then_restore_in_place_and_to_a_new_database(database_url, tmp_path):
    url = with_password(database_url)
    settings = load_settings(database_url=url, data_dir=str(tmp_path / "data"))
    seed(settings)
    original = snapshot(url)
    assert set(original) == set(medic_tables())
    assert all(original[name] for name in ("error_groups", "occurrences", "executions", "attempts", "execution_audit",
                                           "notifications", "rejected_events"))

    result = job.run(JobContext(settings=settings, sessions=session_factory(url)))
    assert not result.failed, result.summary
    with session_factory(url)() as session:
        (row,) = catalog.listed(session)
        registry = snapshot(url)["backups"]
    assert row.verification == catalog.OK
    assert PASSWORD not in json.dumps(row.manifest) + result.summary + (row.verification_detail or "")
    with tarfile.open(row.path) as tar:
        assert PASSWORD.encode() not in tar.extractfile("manifest.json").read()

    change_and_delete(url)
    assert snapshot(url) != {**original, "backups": registry}

    target = restore.target_for(settings, None)
    restored = _restore(row.name, target, settings, tmp_path / "in-place")
    assert restored.problems == [] and target.in_place
    after = snapshot(url)
    assert after["backups"] == registry  # the registry is carried over, not taken back in time
    assert {**after, "backups": original["backups"]} == original
    with session_factory(url)() as session:  # a connection held open across the restore sees the restored rows
        assert session.scalar(select(func.count()).select_from(Notification)) == len(original["notifications"])

    if target.kind == "sqlite":
        new_url = f"sqlite:///{tmp_path / 'elsewhere' / 'restored.sqlite'}"
    else:
        new_url = services.pg_url(f"{make_url(database_url).database}_restored")
    try:
        restored = _restore(row.name, restore.target_for(settings, new_url), settings, tmp_path / "new")
        assert restored.problems == [] and restored.after.exists
        assert snapshot(new_url) == original
        # the restored database works: its sequences continue after the restored rows
        IntakeService(load_settings(database_url=new_url, data_dir=str(tmp_path / "data"))).report(
            {**BUG, "message": "after restore"}, delivery_id="after")
        assert len(snapshot(new_url)["occurrences"]) == len(original["occurrences"]) + 1
    finally:
        if target.kind == "postgresql":
            _dispose(new_url)
            services.drop_pg_database(make_url(new_url).database)


def _restore(name: str, target, settings, into, *, trust_unsigned: bool = False):
    into.mkdir()
    plan = restore.prepare(locate(name, settings), target, settings, into=into, config_to=None,
                           trust_unsigned=trust_unsigned)
    return restore.apply(plan, settings)


def _dispose(url: str) -> None:
    from workers.storage.db import _engines

    for key in [k for k in _engines if make_url(k).database == make_url(url).database]:
        _engines.pop(key).dispose()


def test_restore_over_a_sqlite_file_that_is_no_database_any_more(sqlite_url, tmp_path):
    settings = load_settings(database_url=sqlite_url, data_dir=str(tmp_path / "data"))
    seed(settings, events=3)
    original = snapshot(sqlite_url)
    assert not job.run(JobContext(settings=settings, sessions=session_factory(sqlite_url))).failed
    (archive,) = settings.backup_dir.glob("*.tar.gz")
    _dispose(sqlite_url)
    live = make_url(sqlite_url).database
    with open(live, "r+b") as damaged:
        damaged.write(b"garbage" * 100)
    with open(f"{live}-wal", "wb") as stale:
        stale.write(b"a write-ahead log of another database")

    # the live database is what is broken: the archive's registration cannot be checked
    with pytest.raises(ArchiveUntrusted, match="not registered in medic's backups table .the table cannot be read"):
        _restore(str(archive), restore.target_for(settings, None), settings, tmp_path / "refused")
    restored = _restore(str(archive), restore.target_for(settings, None), settings, tmp_path / "into",
                        trust_unsigned=True)
    assert restored.problems == []
    assert {**snapshot(sqlite_url), "backups": []} == original
