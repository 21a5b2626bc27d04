"""Making one archive: dump the database and copy the config files into a staging directory,
describe them in a manifest, write the archive signed with the backup key (created by the first backup)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

from config.settings import Settings
from workers.clock import as_utc
from workers.maintenance.backup import archive, keyfile, postgres, sqlite, tables
from workers.maintenance.backup.errors import BackupError
from workers.maintenance.backup.manifest import (
    DATABASE_MEMBERS,
    FORMAT,
    FORMAT_VERSION,
    Manifest,
    entry_for,
    file_digest,
)

NAME_PREFIX = "medic-backup-"
NAME_SUFFIX = ".tar.gz"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Created:
    name: str
    path: Path
    size_bytes: int
    sha256: str
    manifest: Manifest


def archive_name(now: datetime, taken: Callable[[str], bool]) -> str:
    """medic-backup-20261129T203000Z.tar.gz, or with -2, -3... when a backup of the same second exists."""
    base = NAME_PREFIX + as_utc(now).strftime(STAMP_FORMAT)
    name, n = base + NAME_SUFFIX, 2
    while taken(name):
        name, n = f"{base}-{n}{NAME_SUFFIX}", n + 1
    return name


def config_sources(settings: Settings) -> dict[str, tuple[str, Path]]:
    """Archive member -> (the setting that names it, the file) for medic's config files."""
    groups = (("settings", "MEDIC_CONFIG_FILE", [settings.config_file] if settings.config_file else []),
              ("rules", "MEDIC_RULES_FILES", settings.rules_files),
              ("plans", "MEDIC_PLANS_FILES", settings.plans_files))
    members: dict[str, tuple[str, Path]] = {}
    for group, setting, paths in groups:
        for path in paths:
            name, n = f"config/{group}/{path.name}", 2
            while name in members:
                name, n = f"config/{group}/{n}-{path.name}", n + 1
            members[name] = (setting, path.expanduser().resolve())
    return members


def create(settings: Settings, *, name: str, staging: Path, now: datetime) -> Created:
    """Write the archive `name` into settings.backup_dir, staging its files in `staging`."""
    url = settings.database_url
    kind = tables.database_kind(url)
    key = keyfile.load_or_create(settings)
    database_file = staging / DATABASE_MEMBERS[kind]
    if kind == tables.SQLITE:
        counts, revision = sqlite.dump(url, database_file)
    else:
        counts, revision = postgres.dump(url, database_file, bin_dir=settings.backup.pg_bin_dir)
    files = {database_file.name: database_file}
    entries = [entry_for(database_file.name, database_file, "database")]
    for member, (setting, source) in config_sources(settings).items():
        files[member] = _copy(setting, source, staging / member)
        entries.append(entry_for(member, files[member], "config", source=str(source)))
    manifest = Manifest(format=FORMAT, format_version=FORMAT_VERSION, medic_version=metadata.version("medic"),
                        created_at=as_utc(now), database_kind=kind, database_url=tables.masked_url(url),
                        schema_revision=revision, tables=counts, files=entries)
    path = settings.backup_dir / name
    archive.write(path, manifest, files, key)
    size, sha = file_digest(path)
    return Created(name=name, path=path, size_bytes=size, sha256=sha, manifest=manifest)


def _copy(setting: str, source: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(source, dest)
    except OSError as exc:
        raise BackupError(f"{setting}: cannot copy {source}: {exc.strerror or exc}") from None
    return dest
