"""Gzip a file so that its final name only ever holds a complete archive.

The archive is written to `<target>.tmp`, flushed and fsynced, then renamed over `<target>`; the
source is removed only after that. A crash leaves the source and at most a `.tmp`, which the
caller removes on its next run.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
from pathlib import Path

from workers.durable import fsync_directory

CHUNK_BYTES = 1024 * 1024
COMPRESS_LEVEL = 6  # zlib's default: most of level 9's ratio at a fraction of its time
TMP_SUFFIX = ".tmp"


class SourceChanged(Exception):
    """The source was written while it was being compressed; nothing was replaced or removed."""


def gzip_file(source: Path, target: Path) -> tuple[int, int]:
    """Compress `source` into `target` (same mode bits), then remove `source`. Returns both sizes in bytes."""
    partial = target.with_name(target.name + TMP_SUFFIX)
    before = os.stat(source)
    try:
        with open(source, "rb") as src, open(partial, "wb") as raw:
            os.fchmod(raw.fileno(), stat.S_IMODE(before.st_mode))
            with gzip.GzipFile(filename=source.name, mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL,
                               mtime=int(before.st_mtime)) as compressed:
                shutil.copyfileobj(src, compressed, CHUNK_BYTES)
            raw.flush()
            os.fsync(raw.fileno())
        if _changed(before, os.stat(source)):
            raise SourceChanged(f"{source} was written while being compressed")
        os.utime(partial, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)
    archive_bytes = target.stat().st_size
    source.unlink()
    return before.st_size, archive_bytes


def _changed(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_ino, before.st_size, before.st_mtime_ns) != (after.st_ino, after.st_size, after.st_mtime_ns)
