"""Temporary directories for staging and extraction, inside the backup directory (same filesystem,
sized for archives, unlike /tmp), and the removal of what a killed run left behind."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workers.maintenance.backup.archive import PARTIAL_PREFIX, PARTIAL_SUFFIX
from workers.maintenance.backup.errors import BackupError

TEMP_PREFIX = ".medic-tmp-"
DIR_MODE = 0o700
STALE_AFTER_S = 86_400  # a leftover older than this belongs to no running job (time limits are far shorter)


def ensure_directory(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    except OSError as exc:
        raise BackupError(f"MEDIC_BACKUP__DIR: cannot create {directory}: {exc.strerror or exc}") from None
    return directory


@contextmanager
def temporary(directory: Path) -> Iterator[Path]:
    try:
        path = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=ensure_directory(directory)))
    except OSError as exc:
        raise BackupError(f"MEDIC_BACKUP__DIR: cannot write in {directory}: {exc.strerror or exc}") from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale(directory: Path, *, now_s: float | None = None) -> int:
    """Remove medic's own temporary directories and partial archives older than STALE_AFTER_S; the count."""
    cutoff = (time.time() if now_s is None else now_s) - STALE_AFTER_S
    removed = 0
    for path in directory.glob(f"{PARTIAL_PREFIX}*"):
        partial_archive = path.name.startswith(f"{PARTIAL_PREFIX}medic-backup-") and path.name.endswith(PARTIAL_SUFFIX)
        ours = (path.is_dir() and path.name.startswith(TEMP_PREFIX)) or (path.is_file() and partial_archive)
        if not ours or path.lstat().st_mtime >= cutoff:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed
