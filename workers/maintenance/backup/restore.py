"""Restoring an archive (found by lookup): check it completely, describe what it would overwrite, then do it.

`prepare` changes nothing outside its extraction directory: it refuses an archive medic cannot vouch
for (unless trusted by the operator), one that does not match its manifest, and a PostgreSQL dump that
holds anything but medic's objects. `apply` writes the database (on PostgreSQL, only the entries
checked) and the config files. In place, the backups registry is carried over: the restored database
would otherwise forget the archives made after it, which are still on disk.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from config.errors import StorageUnavailable
from config.settings import Settings
from config.urls import PSYCOPG_PREFIX, with_psycopg_driver
from workers.maintenance.backup import catalog, lookup, pglisting, postgres, sqlite, tables
from workers.maintenance.backup.archive import extract
from workers.maintenance.backup.errors import ArchiveInvalid, BackupError, RestoreRefused
from workers.maintenance.backup.lookup import Source
from workers.maintenance.backup.manifest import Manifest, file_digest
from workers.maintenance.runner import lease_name
from workers.storage import migrate
from workers.storage.db import guarded_session, session_factory
from workers.storage.models import Lease

CONFIG_PREFIX = "config/"


@dataclass(frozen=True)
class Target:
    url: str
    kind: str
    in_place: bool  # medic's configured database


@dataclass(frozen=True)
class ConfigWrite:
    member: str
    source: str | None  # where the file was when it was backed up
    dest: Path
    exists: bool


@dataclass
class Plan:
    source: Source
    manifest: Manifest
    trust: str  # what vouches for the archive, or what --trust-unsigned accepted
    extracted: Path
    target: Target
    before: tables.DatabaseState
    config: list[ConfigWrite]
    entries: list[pglisting.Entry]  # PostgreSQL: the dump's entries to restore (medic's own, checked)


@dataclass
class Restored:
    after: tables.DatabaseState
    problems: list[str]  # differences from the archive's row counts
    notes: list[str] = field(default_factory=list)


def target_for(settings: Settings, to_database: str | None) -> Target:
    url = settings.database_url if to_database is None else database_url(to_database)
    return Target(url=url, kind=tables.database_kind(url), in_place=url == settings.database_url)


def database_url(value: str) -> str:
    """A SQLite path or URL or a PostgreSQL URL as medic's SQLAlchemy URL; ValueError otherwise."""
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser().resolve()}"
    url = with_psycopg_driver(value)
    if url.startswith(("sqlite:///", PSYCOPG_PREFIX)):
        return url
    raise ValueError(f"{tables.masked_url(value)}: use a SQLite file path, a sqlite:/// URL or a postgresql:// URL")


def describe(target: Target) -> tables.DatabaseState:
    return sqlite.describe(target.url) if target.kind == tables.SQLITE else postgres.describe(target.url)


def prepare(source: Source, target: Target, settings: Settings, *, into: Path, config_to: Path | None,
            trust_unsigned: bool = False) -> Plan:
    """Check the archive completely and extract it into the empty directory `into`; refuse what is unsafe."""
    if not source.path.is_file():
        raise RestoreRefused(f"{source.path} does not exist (the registered archive is missing)")
    if source.row is not None and file_digest(source.path)[1] != source.row.sha256:
        raise ArchiveInvalid(None, f"{source.path.name}'s sha256 differs from the one registered when it was written")
    admitted = extract(source.path, into, lookup.gate(source, settings, trust_unsigned=trust_unsigned))
    manifest = admitted.manifest
    if source.row is not None and manifest.model_dump(mode="json") != source.row.manifest:
        raise ArchiveInvalid("manifest.json", "differs from the copy registered when the archive was written")
    if manifest.database_kind != target.kind:
        raise RestoreRefused(f"the archive holds a {manifest.database_kind} database and the target "
                             f"{tables.masked_url(target.url)} is {target.kind}: "
                             f"a restore does not convert between them")
    if manifest.schema_revision is not None and not _known(manifest.schema_revision, target.url):
        raise RestoreRefused(f"the archive's schema revision {manifest.schema_revision} is unknown to this medic: "
                             f"restore it with the medic version that made it ({manifest.medic_version})")
    before = describe(target)
    if target.kind == tables.POSTGRESQL and before.has_medic_tables and before.revision != manifest.schema_revision:
        raise RestoreRefused(f"{tables.masked_url(target.url)} is at schema revision {before.revision or 'none'} "
                             f"and the archive at {manifest.schema_revision}: a PostgreSQL restore replaces only "
                             f"the archive's tables; restore into a new database (--to-database) "
                             f"or drop medic's tables there first")
    entries = _checked_entries(into / manifest.database_member, manifest, settings) \
        if target.kind == tables.POSTGRESQL else []
    return Plan(source, manifest, admitted.trust, into, target, before, _config_writes(manifest, config_to), entries)


def _checked_entries(dump: Path, manifest: Manifest, settings: Settings) -> list[pglisting.Entry]:
    problems, entries = postgres.check_listing(dump, manifest, bin_dir=settings.backup.pg_bin_dir)
    if problems:
        raise ArchiveInvalid(manifest.database_member, "; ".join(problems))
    return entries


def _known(revision: str, url: str) -> bool:
    try:
        return ScriptDirectory.from_config(migrate.alembic_config(url)).get_revision(revision) is not None
    except CommandError:
        return False


def _config_writes(manifest: Manifest, config_to: Path | None) -> list[ConfigWrite]:
    if config_to is None:
        return []
    writes = []
    for entry in manifest.files:
        if entry.role == "config":
            dest = config_to.expanduser().resolve() / entry.name.removeprefix(CONFIG_PREFIX)
            writes.append(ConfigWrite(entry.name, entry.source, dest, dest.exists()))
    return writes


def apply(plan: Plan, settings: Settings) -> Restored:
    notes: list[str] = []
    registry = _export_registry(settings, notes) if plan.target.in_place else None
    database = plan.extracted / plan.manifest.database_member
    if plan.target.kind == tables.SQLITE:
        sqlite.restore(database, plan.target.url)
    else:
        postgres.restore(database, plan.target.url, bin_dir=settings.backup.pg_bin_dir, entries=plan.entries)
    after = describe(plan.target)
    problems = tables.compare_counts(plan.manifest.tables, after.rows)
    if Lease.__tablename__ in after.rows:
        _free_backup_lease(plan.target)
    if registry:
        _import_registry(settings, registry, notes)
    for write in plan.config:
        _write_file(plan.extracted / write.member, write.dest)
    if plan.manifest.schema_revision != migrate.head_revision(plan.target.url):
        notes.append(f"the restored database is at schema revision {plan.manifest.schema_revision}: "
                     f"run `medic db upgrade` before starting medic on it")
    return Restored(after, problems, notes)


def _free_backup_lease(target: Target) -> None:
    """The archive was written while its run held the backup job's lease: restored, that lease
    would keep the job from running until it expired."""
    with tables.connection(target.url) as conn:
        conn.execute(delete(Lease).where(Lease.name == lease_name("backup")))
        conn.commit()


def _export_registry(settings: Settings, notes: list[str]) -> list[dict] | None:
    try:
        with guarded_session(session_factory(settings.database_url)) as session:
            return catalog.export_rows(session)
    except (SQLAlchemyError, StorageUnavailable) as exc:
        notes.append(f"the live backups registry could not be read ({type(exc).__name__}); the restored one is kept")
        return None


def _import_registry(settings: Settings, rows: list[dict], notes: list[str]) -> None:
    try:
        with guarded_session(session_factory(settings.database_url)) as session:
            catalog.import_rows(session, rows)
        notes.append(f"the backups registry was carried over ({len(rows)} archives)")
    except (SQLAlchemyError, StorageUnavailable) as exc:
        notes.append(f"the backups registry could not be carried over ({type(exc).__name__}): "
                     f"archives made after this one are not listed")


def _write_file(source: Path, dest: Path) -> None:
    partial = dest.with_name(f".{dest.name}.partial")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, partial)
        os.replace(partial, dest)
    except OSError as exc:
        raise BackupError(f"--config-to: cannot write {dest}: {exc.strerror or exc}") from None
