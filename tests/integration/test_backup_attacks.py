"""Archives made to attack a restore, refused before anything is written, with the reason said.

- A crafted PostgreSQL dump: medic's tables plus another app's `orders` table and a function, in an
  archive whose manifest matches it. Restored, it replaced the app's table and created the function.
- Archives medic cannot vouch for: unsigned, signed badly or with another key, not registered.
  They are refused unless the operator passes --trust-unsigned; archives made before medic signed
  them are unsigned and need it too.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import update

from config.settings import load_settings
from tests.support import services
from tests.support.services import medic_env, run_medic_side_by_side
from workers.intake.service import IntakeService
from workers.maintenance.backup import catalog, job, keyfile, pgclient, postgres, restore, signing, tables
from workers.maintenance.backup.errors import ArchiveUntrusted, BackupError
from workers.maintenance.backup.lookup import locate
from workers.maintenance.backup.manifest import MANIFEST_NAME, entry_for
from workers.maintenance.backup.verify import verify
from workers.maintenance.job import JobContext
from workers.storage import migrate
from workers.storage.db import engine_for, session_factory
from workers.storage.models import Backup

pytestmark = pytest.mark.integration

BUG = {"error_type": "KeyError", "message": "'sku'", "service": "shop"}
APP_ROW = (1, "paid by the app")
FUNCTION = "medic_pwned"


def app_state(name: str) -> tuple[list[tuple], bool]:
    """The other app's orders, and whether the attacker's function exists."""
    with psycopg.connect(f"{services.PG_ADMIN_DSN} dbname={name}") as conn:
        orders = conn.execute("SELECT id, note FROM orders ORDER BY id").fetchall()
        function = conn.execute("SELECT count(*) FROM pg_proc WHERE proname = %s", (FUNCTION,)).fetchone()[0]
    return orders, bool(function)


def write_tar(path: Path, members: dict[str, bytes | Path]) -> Path:
    """A tar.gz written as anyone could: no medic code involved."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            data = data.read_bytes() if isinstance(data, Path) else data
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def read_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers()}


@pytest.fixture
def shared_database(tmp_path):
    """medic's PostgreSQL database, shared with another app (its `orders`), a signed archive of it
    made by the backup job, and a crafted archive: `pg_dump -Fc` of medic's tables plus the
    attacker's `orders` and a function, with a manifest that matches it."""
    name, attacker = services.create_pg_database(), services.create_pg_database()
    url, attacker_url = services.pg_url(name), services.pg_url(attacker)
    try:
        migrate.upgrade(url)
        settings = load_settings(database_url=url, data_dir=str(tmp_path / "data"))
        IntakeService(settings).report(BUG, delivery_id="one")
        with psycopg.connect(f"{services.PG_ADMIN_DSN} dbname={name}", autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id integer PRIMARY KEY, note text)")
            conn.execute("INSERT INTO orders VALUES (%s, %s)", APP_ROW)
        assert not job.run(JobContext(settings=settings, sessions=session_factory(url))).failed
        (good,) = settings.backup_dir.glob("medic-backup-*.tar.gz")

        migrate.upgrade(attacker_url)
        with psycopg.connect(f"{services.PG_ADMIN_DSN} dbname={attacker}", autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id integer PRIMARY KEY, note text)")
            conn.execute("INSERT INTO orders VALUES (666, 'the attacker''s')")
            conn.execute(f"CREATE FUNCTION {FUNCTION}() RETURNS integer LANGUAGE sql AS 'SELECT 1'")
        dump = tmp_path / "database.pgdump"
        pgclient.run("pg_dump", ["--format=custom", f"--file={dump}"], bin_dir=None, url=attacker_url)
        manifest = json.loads(read_members(good)[MANIFEST_NAME])
        manifest["files"] = [entry_for(dump.name, dump, "database").model_dump(mode="json")]
        manifest["tables"] = {table: count for table, count in tables.state(attacker_url).rows.items()}
        crafted = write_tar(tmp_path / "crafted.tar.gz",
                            {MANIFEST_NAME: json.dumps(manifest).encode(), dump.name: dump})
        yield settings, name, good, crafted
    finally:
        engine_for(url).dispose()
        engine_for(attacker_url).dispose()
        services.drop_pg_database(name)
        services.drop_pg_database(attacker)


def test_a_crafted_dump_with_another_apps_objects_is_refused(shared_database, tmp_path):
    settings, name, _, crafted = shared_database
    env = medic_env(database_url=settings.database_url, data_dir=settings.data_dir)
    before = app_state(name)
    assert before == ([APP_ROW], False)

    restored, verified, trusted_restore, trusted_verify = run_medic_side_by_side(
        env, ("backup", "restore", str(crafted), "--yes"), ("backup", "verify", str(crafted)),
        ("backup", "restore", str(crafted), "--yes", "--trust-unsigned"),
        ("backup", "verify", str(crafted), "--trust-unsigned", "--json"))

    for refused in (restored, verified):
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "is unsigned and is not registered in medic's backups table" in refused.stderr
        assert "--trust-unsigned" in refused.stderr and "Traceback" not in refused.stderr
    # trusted, the archive's checksums hold: what refuses it is what its dump holds
    assert trusted_restore.returncode == 1, trusted_restore.stdout + trusted_restore.stderr
    for found in ("TABLE public orders", "TABLE DATA public orders", f"FUNCTION public {FUNCTION}()"):
        assert found in trusted_restore.stderr
    assert trusted_verify.returncode == 1
    detail = json.loads(trusted_verify.stdout)["detail"]
    assert "not medic's" in detail and "TABLE public orders" in detail and FUNCTION in detail
    assert app_state(name) == before


def test_only_medics_own_objects_are_restored(shared_database, tmp_path):
    """The --use-list restore runs the entries it is given and no other, whatever the dump holds."""
    settings, name, _, crafted = shared_database
    dump = tmp_path / "extracted" / "database.pgdump"
    dump.parent.mkdir()
    dump.write_bytes(read_members(crafted)["database.pgdump"])
    listed = postgres.listing(dump, bin_dir=None)
    own = [entry for entry in listed if postgres.is_medic(entry)]
    assert {entry.text for entry in listed} - {entry.text for entry in own} == {
        "TABLE public orders", "TABLE DATA public orders", "CONSTRAINT public orders orders_pkey",
        f"FUNCTION public {FUNCTION}()"}

    postgres.restore(dump, settings.database_url, bin_dir=None, entries=own)

    assert app_state(name) == ([APP_ROW], False)
    assert list(dump.parent.iterdir()) == [dump]  # the list file is gone


@pytest.fixture
def signed(tmp_path):
    """A SQLite medic with one archive made (and so signed) by its backup job."""
    url = f"sqlite:///{tmp_path / 'medic.sqlite'}"
    migrate.upgrade(url)
    settings = load_settings(database_url=url, data_dir=str(tmp_path / "data"))
    IntakeService(settings).report(BUG, delivery_id="one")
    assert not job.run(JobContext(settings=settings, sessions=session_factory(url))).failed
    (archive,) = settings.backup_dir.glob("medic-backup-*.tar.gz")
    try:
        yield settings, archive
    finally:
        engine_for(url).dispose()


def test_archives_are_signed_with_a_key_made_on_the_first_backup(signed):
    settings, archive = signed
    members = read_members(archive)
    assert list(members)[:2] == [MANIFEST_NAME, signing.SIGNATURE_NAME]
    key_file = settings.data_dir / keyfile.KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = keyfile.load(settings)
    assert signing.problem(members[MANIFEST_NAME], members[signing.SIGNATURE_NAME], key) is None
    assert key.secret.decode() not in b"".join(members.values()).decode(errors="replace")
    result = verify(locate(archive.name, settings), settings)
    assert result.ok and f"signed with this medic's key {key.key_id}, registered" in result.detail


def _resigned(manifest: bytes, key: signing.Key):
    return lambda _: signing.sign(manifest, key)


# case -> (how to make the archive from the good one, words of the refusal)
UNTRUSTED = {
    "copied elsewhere": (lambda members: members, "is not registered in medic's backups table"),
    "manifest changed, signature kept": (
        lambda members: {**members, MANIFEST_NAME: members[MANIFEST_NAME].replace(b"0.1.0", b"0.1.1")},
        "has a signature that does not match its manifest"),
    "signed with another key": (
        lambda members: {**members, signing.SIGNATURE_NAME: signing.sign(members[MANIFEST_NAME],
                                                                          signing.Key(b"o" * 32))},
        "is signed with key"),
    "signature removed": (lambda members: {k: v for k, v in members.items() if k != signing.SIGNATURE_NAME},
                          "is unsigned"),
    "signature garbled": (lambda members: {**members, signing.SIGNATURE_NAME: b"hmac-sha256 nonsense\n"},
                          "has a signature medic cannot read"),
}


@pytest.mark.parametrize("case", list(UNTRUSTED))
def test_an_archive_medic_cannot_vouch_for_is_refused_unless_trusted(signed, tmp_path, case):
    settings, archive = signed
    change, reason = UNTRUSTED[case]
    copy = write_tar(tmp_path / "copy.tar.gz", change(read_members(archive)))
    into = tmp_path / "into"
    into.mkdir()
    source, target = locate(str(copy), settings), restore.target_for(settings, None)

    with pytest.raises(ArchiveUntrusted) as refused:
        restore.prepare(source, target, settings, into=into, config_to=None)
    assert reason in str(refused.value) and "--trust-unsigned" in str(refused.value)
    assert list(into.iterdir()) == []
    with pytest.raises(ArchiveUntrusted, match=reason):
        verify(source, settings)

    plan = restore.prepare(source, target, settings, into=into, config_to=None, trust_unsigned=True)
    assert reason in plan.trust and "accepted by --trust-unsigned" in plan.trust


def test_an_archive_made_before_medic_signed_archives_needs_trust_unsigned(signed, tmp_path):
    """Registered, unchanged since, unsigned: made by an older medic."""
    settings, archive = signed
    members = read_members(archive)
    del members[signing.SIGNATURE_NAME]
    write_tar(archive, members)
    with session_factory(settings.database_url)() as session:
        session.execute(update(Backup).values(sha256=hashlib.sha256(archive.read_bytes()).hexdigest(),
                                              size_bytes=archive.stat().st_size))
        session.commit()
    source = locate(archive.name, settings)
    into = tmp_path / "into"
    into.mkdir()

    with pytest.raises(ArchiveUntrusted, match="is unsigned: refused"):
        restore.prepare(source, restore.target_for(settings, None), settings, into=into, config_to=None)
    with pytest.raises(ArchiveUntrusted):
        verify(source, settings)
    with session_factory(settings.database_url)() as session:
        assert catalog.get(session, archive.name).verification == catalog.OK  # a refusal records nothing

    result = verify(source, settings, trust_unsigned=True)
    assert result.ok and "is unsigned: accepted by --trust-unsigned" in result.detail
    plan = restore.prepare(source, restore.target_for(settings, None), settings, into=into, config_to=None,
                           trust_unsigned=True)
    assert restore.apply(plan, settings).problems == []


def test_a_configured_key_is_used_instead_of_the_key_file(signed, tmp_path):
    settings, archive = signed
    configured = load_settings(database_url=settings.database_url, data_dir=str(settings.data_dir),
                               backup={"signing_key": "c" * 40})
    with pytest.raises(ArchiveUntrusted, match="is signed with key .*, not with this medic's key"):
        verify(locate(archive.name, configured), configured)

    elsewhere = load_settings(database_url=settings.database_url, data_dir=str(tmp_path / "other-data"),
                              backup={"signing_key": "c" * 40, "dir": str(settings.backup_dir)})
    assert not job.run(JobContext(settings=elsewhere, sessions=session_factory(settings.database_url))).failed
    assert not (tmp_path / "other-data" / keyfile.KEY_FILE_NAME).exists()


def test_a_key_file_others_can_read_is_refused(signed):
    settings, archive = signed
    key_file = settings.data_dir / keyfile.KEY_FILE_NAME
    os.chmod(key_file, 0o644)
    with pytest.raises(BackupError, match="chmod 600"):
        verify(locate(archive.name, settings), settings)


def test_the_cli_says_what_it_refuses_and_what_it_accepted(signed, tmp_path):
    settings, archive = signed
    copy = shutil.copy(archive, tmp_path / "copy.tar.gz")
    env = medic_env(database_url=settings.database_url, data_dir=settings.data_dir)
    registered, refused, trusted, declined = run_medic_side_by_side(
        env, ("backup", "verify", archive.name), ("backup", "verify", str(copy)),
        ("backup", "verify", str(copy), "--trust-unsigned"),
        ("backup", "restore", str(copy), "--trust-unsigned"))
    assert registered.returncode == 0 and "signed with this medic's key" in registered.stdout
    assert refused.returncode == 1 and "is not registered in medic's backups table: refused" in refused.stderr
    assert trusted.returncode == 0 and "accepted by --trust-unsigned" in trusted.stdout
    assert declined.returncode == 1 and "accepted by --trust-unsigned" in declined.stdout  # shown before the question

