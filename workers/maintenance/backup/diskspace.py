"""Room to extract an archive: the total its manifest declares plus a margin, checked before anything
is written (a few KiB of gzip can declare, truthfully, gigabytes of zeros)."""

from __future__ import annotations

import shutil
from pathlib import Path

from workers.maintenance.backup.errors import BackupError

MARGIN_MIN_BYTES = 64 << 20
MARGIN_DIVISOR = 10  # a tenth of the declared total, when that is more than the minimum
_MIB = 1 << 20


def needed_bytes(declared_bytes: int) -> int:
    """What must be free to extract `declared_bytes` and leave the filesystem usable."""
    return declared_bytes + max(MARGIN_MIN_BYTES, declared_bytes // MARGIN_DIVISOR)


def require_room(directory: Path, declared_bytes: int) -> None:
    free, needed = shutil.disk_usage(directory).free, needed_bytes(declared_bytes)
    if free < needed:
        raise BackupError(f"{directory}: {free // _MIB} MiB free, and extracting the archive needs "
                          f"{needed // _MIB} MiB ({declared_bytes} bytes declared by its manifest, and a margin): "
                          f"free some space or set MEDIC_BACKUP__DIR to a larger filesystem")
