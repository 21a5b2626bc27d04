"""SQLite: copy with the online backup API, check the copy, restore by the backup API into the target.

The backup API copies a consistent snapshot while other connections keep writing (WAL), and
writing a copy back through it replaces the target's content in one transaction: connections
other processes hold open see the old database or the restored one, never a mix, and never
a file unlinked under them (which a rename over the live file would do).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from workers.maintenance.backup import tables
from workers.maintenance.backup.errors import BackupError
from workers.maintenance.backup.manifest import Manifest
from workers.storage.db import SQLITE_BUSY_TIMEOUT_MS

MAX_PROBLEMS = 5  # integrity_check lines kept in a verification's detail


def database_path(url: str) -> Path:
    name = make_url(url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError(f"{tables.masked_url(url)}: only a SQLite database in a file can be backed up or restored")
    return Path(name).expanduser().resolve()


def _open(path: Path, mode: str) -> sqlite3.Connection:
    """mode: ro, rw (never creates the file) or rwc."""
    return sqlite3.connect(f"{path.as_uri()}?mode={mode}", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)


def _copy(source_path: Path, mode: str, target_path: Path) -> None:
    try:
        with closing(_open(source_path, mode)) as source, closing(_open(target_path, "rwc")) as target:
            source.backup(target)  # one step: one consistent snapshot, one transaction
            if mode == "rw":  # a new copy: one self-contained file, no -wal beside it
                target.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"copying {source_path} into {target_path} failed: {exc}") from None


def dump(url: str, dest: Path) -> tuple[dict[str, int], str | None]:
    """Copy the database at `url` into `dest`; the copy's row counts and schema revision."""
    source_path = database_path(url)
    if not source_path.is_file():
        raise BackupError(f"the SQLite database {source_path} does not exist")
    _copy(source_path, "rw", dest)
    copied = tables.state(f"sqlite:///{dest}")
    return copied.rows, copied.revision


def check(copy: Path, manifest: Manifest) -> list[str]:
    """Problems of an extracted copy: integrity, schema revision, row counts against the manifest."""
    try:
        with closing(_open(copy, "ro")) as conn:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return [f"{copy.name}: PRAGMA integrity_check could not read it: {exc}"]
    if problems != ["ok"]:
        return [f"integrity_check: {problem}" for problem in problems[:MAX_PROBLEMS]]
    found = tables.state(f"sqlite:///{copy}")
    if found.unreadable or tables.REVISION_TABLE not in found.rows:
        return [f"{copy.name} is not a medic database: {found.unreadable or f'no {tables.REVISION_TABLE} table'}"]
    if found.revision != manifest.schema_revision:
        return [f"schema revision {found.revision}, the manifest says {manifest.schema_revision}"]
    return tables.compare_counts(manifest.tables, found.rows)


def describe(url: str) -> tables.DatabaseState:
    path = database_path(url)
    return tables.state(f"sqlite:///{path}") if path.exists() else tables.DatabaseState(exists=False)


def is_corrupt(path: Path) -> bool:
    """The file is there but is no database SQLite can read (a busy database is not corrupt)."""
    try:
        with closing(_open(path, "ro")) as conn:
            conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.OperationalError:
        return False
    except sqlite3.DatabaseError:
        return True
    return False


def restore(copy: Path, target_url: str) -> None:
    """Write the copy into the target database (created when missing) in one transaction.

    A target SQLite cannot read, nobody can be using: the copy replaces the file (and its stale
    -wal and -shm, which SQLite would otherwise apply to the copy).
    """
    target_path = database_path(target_url)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    if not (target_path.exists() and is_corrupt(target_path)):
        _copy(copy, "ro", target_path)
        return
    partial = target_path.with_name(f".{target_path.name}.restore-partial")
    shutil.copyfile(copy, partial)
    with open(partial, "rb+") as written:
        os.fsync(written.fileno())
    for suffix in ("-wal", "-shm"):
        Path(f"{target_path}{suffix}").unlink(missing_ok=True)
    os.replace(partial, target_path)
