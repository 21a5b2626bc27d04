"""Verifying an archive: the file is the one registered, medic can vouch for it (signed with its key and
registered, or accepted by --trust-unsigned), every member matches the manifest, and the database in it
is sound (SQLite: integrity_check of the copy; PostgreSQL: pg_restore --list holds only medic's objects,
and with verify_restore a restore of them into a scratch database).

An archive medic cannot vouch for is refused (ArchiveUntrusted), not verified: a refusal is no result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.settings import Settings
from workers.maintenance.backup import catalog, lookup, postgres, sqlite, tables, workspace
from workers.maintenance.backup.archive import extract
from workers.maintenance.backup.errors import ArchiveInvalid
from workers.maintenance.backup.manifest import Manifest, file_digest


@dataclass(frozen=True)
class Verification:
    status: str  # catalog.OK | FAILED | MISSING
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == catalog.OK


def verify(source: lookup.Source, settings: Settings, *, trust_unsigned: bool = False) -> Verification:
    """Verify the archive of `source`; a registered one against what the registry holds for it."""
    path, row = source.path, source.row
    if not path.is_file():
        return Verification(catalog.MISSING, f"{path} does not exist")
    if row is not None and file_digest(path)[1] != row.sha256:
        return Verification(catalog.FAILED, "the archive's sha256 differs from the one registered when it was written")
    gate = lookup.gate(source, settings, trust_unsigned=trust_unsigned)
    with workspace.temporary(settings.backup_dir) as into:
        try:
            admitted = extract(path, into, gate)
        except ArchiveInvalid as exc:
            return Verification(catalog.FAILED, str(exc))
        found = admitted.manifest
        if row is not None and found.model_dump(mode="json") != row.manifest:
            return Verification(catalog.FAILED, "manifest.json differs from the copy registered when it was written")
        problems, checked = check_database(into, found, settings)
    if problems:
        return Verification(catalog.FAILED, "; ".join(problems))
    return Verification(catalog.OK, f"{admitted.trust}; {checked}; "
                                    f"{sum(found.tables.values())} rows in {len(found.tables)} tables")


def check_database(into: Path, manifest: Manifest, settings: Settings) -> tuple[list[str], str]:
    """Problems of the extracted database, and what was checked."""
    database = into / manifest.database_member
    if manifest.database_kind == tables.SQLITE:
        return sqlite.check(database, manifest), "integrity_check ok, row counts match"
    bin_dir = settings.backup.pg_bin_dir
    problems, entries = postgres.check_listing(database, manifest, bin_dir=bin_dir)
    restore_too = settings.backup.verify_restore and tables.database_kind(settings.database_url) == tables.POSTGRESQL
    if problems or not restore_too:
        return problems, "pg_restore --list ok, only medic's objects"
    problems = postgres.check_scratch_restore(database, manifest, url=settings.database_url, bin_dir=bin_dir,
                                              entries=entries)
    return problems, "pg_restore --list ok, only medic's objects, restored into a scratch database, row counts match"
