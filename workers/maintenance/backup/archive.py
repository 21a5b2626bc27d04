"""The archive file: a tar.gz of manifest.json, manifest.sig (its signature) and the files it lists.

Writing goes to a hidden temporary name, renamed into place once complete and synced, so an
archive with the final name is always whole.

Reading trusts the archive no further than it must. The manifest comes first and is at most
MANIFEST_MAX_BYTES; the gate (signature, registration, --trust-unsigned) admits or refuses it
before it is parsed and before more than limits.PREAMBLE_MAX_BYTES are read. Every member is
then checked against it (name, type, size, sha256) in a streaming pass that writes nothing.
Extraction checks the free space for the declared total, reads the archive once more and writes
each member up to its declared size, hashing as it writes.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from workers.durable import fsync_directory
from workers.maintenance.backup import diskspace, limits
from workers.maintenance.backup.errors import ArchiveInvalid, ArchiveUntrusted
from workers.maintenance.backup.manifest import (
    MANIFEST_MAX_BYTES,
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    digest,
    name_problem,
    parse,
)
from workers.maintenance.backup.signing import SIGNATURE_MAX_BYTES, SIGNATURE_NAME, Key, sign
from workers.maintenance.backup.trust import Gate

COMPRESS_LEVEL = 6  # pg_dump's custom format is compressed already; 9 costs much time for little
FILE_MODE = 0o600  # an archive holds the database and config files, secrets included
DIR_MODE = 0o700
PARTIAL_PREFIX = "."
PARTIAL_SUFFIX = ".partial"
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)

Handler = Callable[[tarfile.TarFile, tarfile.TarInfo, FileEntry], None]


@dataclass(frozen=True)
class Admitted:
    manifest: Manifest
    trust: str  # what the gate found: signed and registered, or what --trust-unsigned accepted


def partial_path(path: Path) -> Path:
    return path.with_name(f"{PARTIAL_PREFIX}{path.name}{PARTIAL_SUFFIX}")


def write(path: Path, manifest: Manifest, files: dict[str, Path], key: Key) -> None:
    """Write the archive at `path`: manifest.json, manifest.sig, then `files` (member name -> file)."""
    partial = partial_path(path)
    try:
        with open(partial, "xb") as raw:
            os.fchmod(raw.fileno(), FILE_MODE)
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL) as compressed:
                with tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    data, mtime = manifest.encode(), int(manifest.created_at.timestamp())
                    signature = sign(data, key)
                    tar.addfile(_info(MANIFEST_NAME, len(data), mtime), io.BytesIO(data))
                    tar.addfile(_info(SIGNATURE_NAME, len(signature), mtime), io.BytesIO(signature))
                    for name, source in files.items():
                        with open(source, "rb") as stream:
                            tar.addfile(_info(name, os.fstat(stream.fileno()).st_size, mtime), stream)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
        fsync_directory(path.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, FILE_MODE, mtime
    return info


def inspect(path: Path, gate: Gate, *, manifest_bytes: bytes | None = None) -> Admitted:
    """The admitted manifest, once every member is known to be safe and to match it; ArchiveInvalid
    (or ArchiveUntrusted) otherwise. `manifest_bytes`: the manifest an earlier pass admitted."""
    return _read(path, gate, manifest_bytes, _check_digest)[0]


def extract(path: Path, into: Path, gate: Gate) -> Admitted:
    """Check the archive, extract it into the empty directory `into`, each file up to its declared size."""
    if any(into.iterdir()):
        raise ValueError(f"{into} is not empty")
    admitted, manifest_bytes = _read(path, gate, None, None)
    diskspace.require_room(into, admitted.manifest.total_bytes)
    inspect(path, gate, manifest_bytes=manifest_bytes)
    _read(path, gate, manifest_bytes, _writer(into))
    return admitted


def _read(path: Path, gate: Gate, expected: bytes | None, handle: Handler | None) -> tuple[Admitted, bytes]:
    """One streaming pass: admit the manifest (the same bytes as `expected`, when given), then with
    `handle` check each member against it and hand it over."""
    try:
        # gzip.GzipFile inflates at most what is asked; tarfile's own "r|gz" inflates each read whole
        with open(path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            budget = limits.Budget(unzipped, limits.PREAMBLE_MAX_BYTES)
            with tarfile.open(fileobj=budget, mode="r|", tarinfo=limits.BoundedTarInfo) as tar:
                members = iter(tar)
                manifest_bytes, signature, rest = _preamble(tar, members)
                verdict = gate.admit(manifest_bytes, signature)
                if not verdict.accepted:
                    raise ArchiveUntrusted(path.name, verdict.detail)
                budget.lift()
                if expected is not None and manifest_bytes != expected:
                    raise ArchiveInvalid(MANIFEST_NAME, "changed while the archive was read")
                admitted = Admitted(parse(manifest_bytes), verdict.detail)
                if handle is not None:
                    _members(tar, rest, admitted.manifest, handle)
                return admitted, manifest_bytes
    except _READ_ERRORS as exc:
        raise ArchiveInvalid(None, f"truncated or not a tar.gz archive ({type(exc).__name__}: {exc})") from None
    except RecursionError:  # tarfile recurses once per chained extended header
        raise ArchiveInvalid(None, "chains its headers too deeply") from None
    except OSError as exc:
        raise ArchiveInvalid(None, f"cannot be read: {exc.strerror or exc}") from None


def _preamble(tar: tarfile.TarFile,
              members: Iterator[tarfile.TarInfo]) -> tuple[bytes, bytes | None, Iterator[tarfile.TarInfo]]:
    """manifest.json's bytes, manifest.sig's (None when unsigned), and the members after them."""
    first = next(members, None)
    if first is None:
        raise ArchiveInvalid(None, "is empty")
    _check_kind(first)
    if first.name != MANIFEST_NAME:
        raise ArchiveInvalid(first.name, f"comes first, where {MANIFEST_NAME} must be")
    manifest_bytes = _read_small(tar, first, MANIFEST_MAX_BYTES)
    second = next(members, None)
    if second is None or second.name != SIGNATURE_NAME:
        return manifest_bytes, None, itertools.chain([second] if second else [], members)
    _check_kind(second)
    return manifest_bytes, _read_small(tar, second, SIGNATURE_MAX_BYTES), members


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo, max_bytes: int) -> bytes:
    if member.size > max_bytes:
        raise ArchiveInvalid(member.name, f"is larger than {max_bytes} bytes")
    return _contents(tar, member).read()


def _members(tar: tarfile.TarFile, members: Iterator[tarfile.TarInfo], manifest: Manifest, handle: Handler) -> None:
    seen: set[str] = set()
    for member in members:
        _check_kind(member)
        if member.name in seen:
            raise ArchiveInvalid(member.name, "appears twice")
        seen.add(member.name)
        entry = manifest.entry(member.name)
        if entry is None:
            raise ArchiveInvalid(member.name, "is not listed in the manifest")
        if member.size != entry.size_bytes:
            raise ArchiveInvalid(member.name, f"holds {member.size} bytes, the manifest says {entry.size_bytes}")
        handle(tar, member, entry)
    missing = [entry.name for entry in manifest.files if entry.name not in seen]
    if missing:
        raise ArchiveInvalid(missing[0], "is listed in the manifest but missing from the archive")


def _check_kind(member: tarfile.TarInfo) -> None:
    problem = name_problem(member.name)
    if problem:
        raise ArchiveInvalid(member.name, f"{problem}: it could be written outside the target directory")
    if member.issym() or member.islnk():
        kind = "symbolic" if member.issym() else "hard"
        raise ArchiveInvalid(member.name, f"is a {kind} link (to {member.linkname!r})")
    if member.ischr() or member.isblk() or member.isfifo():
        raise ArchiveInvalid(member.name, "is a device or a fifo")
    if not member.isreg() or member.issparse():
        raise ArchiveInvalid(member.name, "is not a regular file")


def _contents(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    stream = tar.extractfile(member)
    if stream is None:  # only ever for what is not a regular file
        raise ArchiveInvalid(member.name, "is not a regular file")
    return stream


def _check_digest(tar: tarfile.TarFile, member: tarfile.TarInfo, entry: FileEntry) -> None:
    if digest(_contents(tar, member))[1] != entry.sha256:
        raise ArchiveInvalid(member.name, "sha256 does not match the manifest")


def _writer(into: Path) -> Handler:
    """Write each member below `into` as a new file (never through an existing one), up to its declared size."""
    def write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, entry: FileEntry) -> None:
        dest = into / entry.name
        try:
            dest.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
            with os.fdopen(fd, "wb") as out:
                written = limits.copy_at_most(entry.name, _contents(tar, member), out, max_bytes=entry.size_bytes)
        except OSError as exc:
            raise ArchiveInvalid(entry.name, f"could not be extracted: {exc.strerror or exc}") from None
        if written != (entry.size_bytes, entry.sha256):
            raise ArchiveInvalid(entry.name, "changed while it was extracted: sha256 does not match the manifest")
    return write_member
