"""The filesystem side of log rotation: list a directory, rotate a file by rename or by copy and truncate."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from workers.durable import fsync_directory
from workers.maintenance.logrotate_policy import FileInfo

CHUNK_BYTES = 1024 * 1024


def list_files(directory: Path) -> list[FileInfo]:
    """The regular files in `directory`; symlinks and subdirectories are never followed or touched."""
    files = []
    with os.scandir(directory) as entries:
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed since the directory was read
                continue
            files.append(FileInfo(entry.name, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC)))
    return files


def rotate_by_rename(directory: Path, live: str, rotated: str) -> None:
    """For writers that reopen their file when its name points elsewhere (WatchedFileHandler, or on a signal)."""
    target = directory / rotated
    if os.path.lexists(target):
        raise FileExistsError(f"{target} already exists")
    os.rename(directory / live, target)
    fsync_directory(directory)


def rotate_by_copy(directory: Path, live: str, rotated: str) -> int:
    """For writers that keep their descriptor and append (O_APPEND): copy, then truncate. Returns bytes copied.

    The copy reads until the live file has nothing more, and truncates right after that empty read:
    a line appended between the two (or while the truncate waits for the file's lock) is lost. What
    grows while the bulk is copied is copied too. A failed copy is removed and the live file untouched.
    """
    copied = 0
    with open(directory / live, "r+b", buffering=0) as source, open(directory / rotated, "xb") as copy:
        try:
            os.fchmod(copy.fileno(), stat.S_IMODE(os.fstat(source.fileno()).st_mode))
            while chunk := source.read(CHUNK_BYTES):
                copy.write(chunk)
                copied += len(chunk)
            copy.flush()  # a full disk fails here, before anything is truncated
        except BaseException:
            (directory / rotated).unlink(missing_ok=True)
            raise
        os.ftruncate(source.fileno(), 0)
        os.fsync(copy.fileno())
    fsync_directory(directory)
    return copied
