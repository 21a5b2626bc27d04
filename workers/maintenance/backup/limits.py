"""Bounds on what reading an archive may cost, whatever its headers claim.

tarfile reads an extended header (pax, GNU long name) whole into memory, however large its size
field says it is, and a GNU sparse 1.0 map number by number into a list: BoundedTarInfo refuses
those over EXTENDED_HEADER_MAX_BYTES, and sparse members, before tarfile reads them (through
_proc_member, the hook tarfile documents for subclasses). Until the manifest is admitted, Budget
lets at most PREAMBLE_MAX_BYTES of the tar stream through; after, each member is read and written
up to its declared size (copy_at_most).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from typing import IO, Any

from workers.maintenance.backup.errors import ArchiveInvalid
from workers.maintenance.backup.manifest import CHUNK_BYTES, MANIFEST_MAX_BYTES
from workers.maintenance.backup.signing import SIGNATURE_MAX_BYTES

# medic writes an extended header only for a long or non-ASCII name (one path, < 4 KiB) or a huge size
EXTENDED_HEADER_MAX_BYTES = 8 << 10
# the manifest, its signature, their headers, and what tarfile reads ahead (20 blocks)
PREAMBLE_MAX_BYTES = MANIFEST_MAX_BYTES + SIGNATURE_MAX_BYTES + (64 << 10)
_EXTENDED_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                   tarfile.GNUTYPE_LONGLINK)


class BoundedTarInfo(tarfile.TarInfo):
    def _proc_member(self, archive: tarfile.TarFile) -> Any:
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise ArchiveInvalid(self.name, "is a sparse file")
        if self.type in _EXTENDED_TYPES and self.size > EXTENDED_HEADER_MAX_BYTES:
            raise ArchiveInvalid(self.name, f"is an extended header of {self.size} bytes "
                                            f"(medic reads at most {EXTENDED_HEADER_MAX_BYTES})")
        return super()._proc_member(archive)  # type: ignore[misc]  # not in typeshed

    def _proc_gnusparse_10(self, next: tarfile.TarInfo, pax_headers: dict[str, str], archive: tarfile.TarFile) -> None:
        raise ArchiveInvalid(next.name, "is a sparse file")


class Budget(io.RawIOBase):
    """A read-only stream that refuses to give more than `max_bytes` until lifted."""

    def __init__(self, stream: io.BufferedIOBase, max_bytes: int):
        super().__init__()
        self._stream = stream
        self._left: int | None = max_bytes
        self._max_bytes = max_bytes

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        if self._left is None:
            return self._stream.read(size)
        data = self._stream.read(self._left + 1 if size < 0 else min(size, self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise ArchiveInvalid(None, f"holds more than {self._max_bytes} bytes before its manifest is admitted")
        return data

    def lift(self) -> None:
        self._left = None


def copy_at_most(name: str, source: IO[bytes], dest: IO[bytes], *, max_bytes: int) -> tuple[int, str]:
    """Copy `source` into `dest`, refusing before writing byte max_bytes + 1; (size, sha256 hex)."""
    sha, size = hashlib.sha256(), 0
    while chunk := source.read(min(CHUNK_BYTES, max_bytes - size + 1)):
        size += len(chunk)
        if size > max_bytes:
            raise ArchiveInvalid(name, f"holds more than the {max_bytes} bytes the manifest declares")
        sha.update(chunk)
        dest.write(chunk)
    return size, sha.hexdigest()
