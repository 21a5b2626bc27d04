"""The backup job and verification on SQLite and PostgreSQL: corrupt copies, vanished and changed
archives, retention over days of runs, a failed verification notified, a scratch-database restore."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import select

from config.settings import load_settings
from tests.support import services
from tests.support.clock import ManualClock
from workers.intake.service import IntakeService
from workers.maintenance.backup import archive, catalog, keyfile, sqlite
from workers.maintenance.backup import verify as verify_module
from workers.maintenance.backup.job import run
from workers.maintenance.backup.lookup import Source, locate
from workers.maintenance.backup.manifest import entry_for
from workers.maintenance.backup.verify import verify
from workers.maintenance.job import JobContext
from workers.maintenance.runner import run_job
from workers.storage.db import session_factory
from workers.storage.models import Backup, MaintenanceRun, Notification

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 1, 2, 30, tzinfo=UTC)


def make_settings(url: str, tmp_path, **backup) -> object:
    settings = load_settings(database_url=url, data_dir=str(tmp_path / "data"), backup=backup)
    IntakeService(settings).report({"error_type": "KeyError", "message": "'sku'", "service": "shop"}, delivery_id="d1")
    return settings


def registry(url: str) -> list[Backup]:
    with session_factory(url)() as session:
        return catalog.listed(session, include_deleted=True)


def corrupt_index(path) -> None:
    """Garble the cell pointers of error_groups' fingerprint index (a one-page b-tree in a small database)."""
    with sqlite3.connect(path) as conn:
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'error_groups'"
                            " ORDER BY name LIMIT 1").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as db:
        db.seek(page_size * (page - 1) + 8)
        db.write(b"\x0f\xf0" * 8)


def test_verify_finds_a_corrupt_sqlite_copy_whose_checksums_match(sqlite_url, tmp_path):
    settings = make_settings(sqlite_url, tmp_path)
    copy = tmp_path / "database.sqlite"
    counts, revision = sqlite.dump(sqlite_url, copy)
    corrupt_index(copy)
    good = run(JobContext(settings=settings, sessions=session_factory(sqlite_url)))
    assert not good.failed
    manifest = registry(sqlite_url)[0].manifest
    bad = settings.backup_dir / "corrupt.tar.gz"
    from workers.maintenance.backup.manifest import Manifest
    archive.write(bad,
                  Manifest.model_validate({**manifest,
                                           "files": [entry_for("database.sqlite", copy, "database").model_dump()]}),
                  {"database.sqlite": copy}, keyfile.load(settings))

    result = verify(Source(bad, None), settings, trust_unsigned=True)  # signed, but not registered
    assert result.status == catalog.FAILED and "integrity_check" in result.detail, result.detail
    assert verify(locate(registry(sqlite_url)[0].name, settings), settings).ok


def test_changed_and_vanished_archives(database_url, tmp_path):
    settings = make_settings(database_url, tmp_path)
    sessions = session_factory(database_url)
    clock = ManualClock(START)
    assert not run(JobContext(settings=settings, sessions=sessions, clock=clock)).failed
    (first,) = registry(database_url)
    assert first.verification == catalog.OK and first.verified_at is not None

    with open(first.path, "ab") as changed:
        changed.write(b"\0")
    result = verify(Source(settings.backup_dir / first.name, first), settings)
    assert result.status == catalog.FAILED and "differs from the one registered" in result.detail

    (settings.backup_dir / first.name).unlink()
    assert verify(Source(settings.backup_dir / first.name, first), settings).status == catalog.MISSING
    clock.now += timedelta(hours=1)
    result = run(JobContext(settings=settings, sessions=sessions, clock=clock))
    assert result.counts["missing"] == 1 and "1 registered archive(s) missing" in result.summary
    assert {row.name: row.verification for row in registry(database_url)} == {
        first.name: catalog.MISSING, "medic-backup-20261101T033000Z.tar.gz": catalog.OK}
    with sessions() as session:
        assert catalog.last_good(session).name == "medic-backup-20261101T033000Z.tar.gz"


def test_retention_over_days_of_runs_deletes_only_registered_archives(database_url, tmp_path):
    settings = make_settings(database_url, tmp_path, keep_last=2, keep_daily=3, keep_weekly=0, keep_monthly=0)
    sessions = session_factory(database_url)
    settings.backup_dir.mkdir(parents=True)
    foreign = [settings.backup_dir / "notes.txt", settings.backup_dir / "medic-backup-20200101T000000Z.tar.gz"]
    for path in foreign:
        path.write_text("not medic's to delete")
    clock = ManualClock(START)
    for day in range(5):
        for hour in (0, 12):
            clock.now = START + timedelta(days=day, hours=hour)
            assert not run(JobContext(settings=settings, sessions=sessions, clock=clock)).failed

    rows = registry(database_url)
    live = sorted(row.name for row in rows if row.deleted_at is None)
    # the newest two, plus the newest of each of the last three days (the 5th's is among the newest two)
    assert live == ["medic-backup-20261103T143000Z.tar.gz", "medic-backup-20261104T143000Z.tar.gz",
                    "medic-backup-20261105T023000Z.tar.gz", "medic-backup-20261105T143000Z.tar.gz"]
    assert sorted(p.name for p in settings.backup_dir.iterdir()) == sorted(live + [p.name for p in foreign])
    assert len(rows) == 10 and all(row.deleted_at is not None for row in rows if row.name not in live)


def test_a_failed_verification_fails_the_run_and_notifies(database_url, tmp_path, monkeypatch):
    settings = make_settings(database_url, tmp_path)
    monkeypatch.setattr(verify_module, "check_database", lambda *_: (["table x: 1 rows expected, 0 found"], ""))
    outcome = run_job("backup", settings, trigger="test")
    assert outcome.run.status == "failed" and "verification failed: table x" in outcome.run.summary
    with session_factory(database_url)() as session:
        (row,) = catalog.listed(session)
        assert row.verification == catalog.FAILED and row.verification_detail == "table x: 1 rows expected, 0 found"
        assert catalog.last_good(session) is None
        (note,) = session.scalars(select(Notification)).all()
        assert note.subject == "maintenance job backup failed"
        assert session.scalars(select(MaintenanceRun.status)).all() == ["failed"]


def test_postgresql_verification_can_restore_into_a_scratch_database(pg_database, tmp_path):
    settings = make_settings(services.pg_url(pg_database), tmp_path, verify_restore=True)
    result = run(JobContext(settings=settings, sessions=session_factory(settings.database_url)))
    assert not result.failed, result.summary
    assert "restored into a scratch database, row counts match" in result.summary
    with psycopg.connect(services.PG_ADMIN_DSN) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'medic_verify_%'").fetchone()[0] == 0
