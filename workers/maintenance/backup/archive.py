"""The archive file: a tar.gz of manifest.json (first) and the files it lists.

Writing goes to a hidden temporary name, renamed into place once complete and synced, so an
archive with the final name is always whole. Reading checks every member against the manifest
(name, type, size, sha256) in one streaming pass before anything is extracted, then extracts with
tarfile's "data" filter and checks the extracted files once more.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from pathlib import Path
from typing import IO

from workers.durable import fsync_directory
from workers.maintenance.backup.errors import ArchiveInvalid
from workers.maintenance.backup.manifest import (
    MANIFEST_MAX_BYTES,
    MANIFEST_NAME,
    Manifest,
    digest,
    file_digest,
    name_problem,
    parse,
)

COMPRESS_LEVEL = 6  # pg_dump's custom format is compressed already; 9 costs much time for little
FILE_MODE = 0o600  # an archive holds the database and config files, secrets included
PARTIAL_PREFIX = "."
PARTIAL_SUFFIX = ".partial"
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def partial_path(path: Path) -> Path:
    return path.with_name(f"{PARTIAL_PREFIX}{path.name}{PARTIAL_SUFFIX}")


def write(path: Path, manifest: Manifest, files: dict[str, Path]) -> None:
    """Write the archive at `path`: manifest.json, then `files` (member name -> file), renamed into place."""
    partial = partial_path(path)
    try:
        with open(partial, "xb") as raw:
            os.fchmod(raw.fileno(), FILE_MODE)
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=COMPRESS_LEVEL) as compressed:
                with tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    data, mtime = manifest.encode(), int(manifest.created_at.timestamp())
                    tar.addfile(_info(MANIFEST_NAME, len(data), mtime), io.BytesIO(data))
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


def inspect(path: Path) -> Manifest:
    """The archive's manifest, once every member is known to be safe and to match it; ArchiveInvalid otherwise."""
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            return _checked(tar)
    except _READ_ERRORS as exc:
        raise ArchiveInvalid(None, f"truncated or not a tar.gz archive ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        raise ArchiveInvalid(None, f"cannot be read: {exc.strerror or exc}") from None


def _checked(tar: tarfile.TarFile) -> Manifest:
    manifest: Manifest | None = None
    seen: set[str] = set()
    for member in tar:
        _check_member(member, seen)
        if manifest is None:
            manifest = _read_manifest(tar, member)
            continue
        entry = manifest.entry(member.name)
        if entry is None:
            raise ArchiveInvalid(member.name, "is not listed in the manifest")
        if member.size != entry.size_bytes:
            raise ArchiveInvalid(member.name, f"holds {member.size} bytes, the manifest says {entry.size_bytes}")
        if digest(_contents(tar, member))[1] != entry.sha256:
            raise ArchiveInvalid(member.name, "sha256 does not match the manifest")
    if manifest is None:
        raise ArchiveInvalid(None, "is empty")
    missing = [entry.name for entry in manifest.files if entry.name not in seen]
    if missing:
        raise ArchiveInvalid(missing[0], "is listed in the manifest but missing from the archive")
    return manifest


def _check_member(member: tarfile.TarInfo, seen: set[str]) -> None:
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
    if member.name in seen:
        raise ArchiveInvalid(member.name, "appears twice")
    seen.add(member.name)


def _read_manifest(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Manifest:
    if member.name != MANIFEST_NAME:
        raise ArchiveInvalid(member.name, f"comes first, where {MANIFEST_NAME} must be")
    if member.size > MANIFEST_MAX_BYTES:
        raise ArchiveInvalid(MANIFEST_NAME, f"is larger than {MANIFEST_MAX_BYTES} bytes")
    return parse(_contents(tar, member).read())


def _contents(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    stream = tar.extractfile(member)
    if stream is None:  # only ever for what is not a regular file
        raise ArchiveInvalid(member.name, "is not a regular file")
    return stream


def extract(path: Path, into: Path) -> Manifest:
    """Check the archive, extract it into the empty directory `into`, and check the extracted files."""
    if any(into.iterdir()):
        raise ValueError(f"{into} is not empty")
    manifest = inspect(path)
    allowed = {MANIFEST_NAME} | {entry.name for entry in manifest.files}

    def only_listed(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo:
        if member.name not in allowed:  # the file changed since it was inspected
            raise ArchiveInvalid(member.name, "is not listed in the manifest")
        return tarfile.data_filter(member, destination)

    try:
        with tarfile.open(path, mode="r|gz") as tar:
            tar.extractall(into, filter=only_listed)
    except (*_READ_ERRORS, OSError) as exc:
        raise ArchiveInvalid(None, f"could not be extracted ({type(exc).__name__}: {exc})") from None
    for entry in manifest.files:
        if file_digest(into / entry.name) != (entry.size_bytes, entry.sha256):
            raise ArchiveInvalid(entry.name, "changed while it was extracted: sha256 does not match the manifest")
    return manifest
