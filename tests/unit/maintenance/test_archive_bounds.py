"""Archive bombs: what reading an archive costs is bounded before its manifest is admitted and, after,
by what the manifest declares. Each bomb is refused with a reason, in little memory, writing nothing.

The bombs are small on disk and small in what they would cost: a few MiB, enough to tell a bounded
read (tens of KiB) from an unbounded one.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from workers.maintenance.backup import archive, diskspace, limits
from workers.maintenance.backup.errors import ArchiveInvalid, ArchiveUntrusted, BackupError
from workers.maintenance.backup.manifest import MANIFEST_NAME
from workers.maintenance.backup.signing import Key
from workers.maintenance.backup.trust import Gate

BLOCK = 512
BOMB_BYTES = 8 << 20  # what each bomb would make medic hold or write
BOUNDED_PEAK_BYTES = 2 << 20  # well below BOMB_BYTES, above what a bounded read needs (a manifest of 1 MiB)
KEY = Key(b"k" * 32)
TRUSTING = Gate(key=KEY, registration_problem=None, trust_unsigned=True)  # as with --trust-unsigned


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mode = size, kind, 0o600
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def member(name: str, data: bytes, kind: bytes = tarfile.REGTYPE) -> bytes:
    return header(name, len(data), kind) + padded(data)


def pax(**records: str) -> bytes:
    """A pax extended header of records "<length> <key>=<value>", each length counting its own digits."""
    out = b""
    for key, value in records.items():
        body = f" {key}={value}\n".encode()
        length = len(body)
        while length != len(body) + len(str(length)):
            length += 1
        out += str(length).encode() + body
    return member("././@PaxHeader", out, tarfile.XHDTYPE)


def manifest_bytes(files: dict[str, bytes | tuple[int, str]]) -> bytes:
    """A valid manifest; a file given as (size, sha256) is declared without its data at hand."""
    entries = []
    for name, data in files.items():
        size, sha = (len(data), hashlib.sha256(data).hexdigest()) if isinstance(data, bytes) else data
        entries.append({"name": name, "size_bytes": size, "sha256": sha, "role": "database", "source": None})
    return json.dumps({"format": "medic-backup", "format_version": 1, "medic_version": "0.1.0",
                       "created_at": "2026-11-29T20:30:00Z", "database_kind": "sqlite",
                       "database_url": "sqlite:////data/medic.sqlite", "schema_revision": None,
                       "tables": {}, "files": entries}).encode()


def gz(path: Path, *parts: bytes | Callable[[gzip.GzipFile], None]) -> Path:
    """A tar.gz from raw tar bytes; a callable writes its part itself (long runs of zeros)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as out:
        for part in parts:
            part(out) if callable(part) else out.write(part)
        out.write(b"\0" * BLOCK * 2)
    return path


def zeros(count: int) -> Callable[[gzip.GzipFile], None]:
    def write(out: gzip.GzipFile) -> None:
        chunk, left = b"\0" * (1 << 20), count
        while left > 0:
            out.write(chunk[:min(left, len(chunk))])
            left -= len(chunk)
    return write


def peak_bytes(action: Callable[[], object]) -> tuple[int, BaseException | None]:
    tracemalloc.start()
    try:
        action()
        raised = None
    except BaseException as exc:  # noqa: BLE001 - the test asserts on what was raised
        raised = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, raised


def good_manifest_and_database() -> tuple[bytes, bytes]:
    database = bytes(range(256)) * 64
    return manifest_bytes({"database.sqlite": database}), database


# name -> (the archive's parts, words of the refusal)
def bombs() -> dict[str, tuple[list, str]]:
    manifest, database = good_manifest_and_database()
    sparse_map = b"1000000000\n" + b"0\n" * (BOMB_BYTES // 2)
    return {
        # tarfile reads a pax header whole: 4 MiB of header before anything else
        "pax header before the manifest": ([header("././@PaxHeader", BOMB_BYTES, tarfile.XHDTYPE),
                                            zeros(BOMB_BYTES)], "extended header"),
        "pax header after the manifest": ([member(MANIFEST_NAME, manifest),
                                           header("././@PaxHeader", BOMB_BYTES, tarfile.XHDTYPE),
                                           zeros(BOMB_BYTES)], "extended header"),
        "global pax header": ([header("pax_global_header", BOMB_BYTES, tarfile.XGLTYPE), zeros(BOMB_BYTES)],
                              "extended header"),
        "GNU long name": ([header("././@LongLink", BOMB_BYTES, tarfile.GNUTYPE_LONGNAME), zeros(BOMB_BYTES)],
                          "extended header"),
        # headers each within the cap, chained: more than the manifest may take before it is admitted
        "chain of pax headers": ([member("././@PaxHeader", b"\0" * limits.EXTENDED_HEADER_MAX_BYTES,
                                         tarfile.XHDTYPE) * 200], "before its manifest"),
        # tarfile recurses once per chained header
        "chain after the manifest": ([member(MANIFEST_NAME, manifest),
                                      header("././@PaxHeader", 0, tarfile.XHDTYPE) * 5000], "too deeply"),
        # GNU sparse 1.0: tarfile reads the sparse map number by number into a list
        "GNU sparse map": ([member(MANIFEST_NAME, manifest),
                            pax(**{"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}),
                            member("database.sqlite", sparse_map)], "sparse"),
        "manifest nested 100k deep": ([member(MANIFEST_NAME, b"[" * 100_000 + b"]" * 100_000)], "nested too deeply"),
    }


@pytest.mark.parametrize("case", list(bombs()))
def test_bombs_are_refused_in_bounded_memory(tmp_path, case):
    parts, reason = bombs()[case]
    path = gz(tmp_path / "bomb.tar.gz", *parts)
    assert path.stat().st_size < 256 << 10

    peak, raised = peak_bytes(lambda: archive.inspect(path, TRUSTING))

    assert isinstance(raised, ArchiveInvalid), repr(raised)
    assert reason in str(raised)
    assert peak < BOUNDED_PEAK_BYTES, f"peak {peak} bytes"


def test_an_untrusted_archive_is_refused_before_its_manifest_is_parsed(tmp_path):
    path = gz(tmp_path / "nested.tar.gz", member(MANIFEST_NAME, b"[" * 100_000 + b"]" * 100_000))
    untrusting = Gate(key=KEY, registration_problem=None, trust_unsigned=False)
    with pytest.raises(ArchiveUntrusted, match="is unsigned.*--trust-unsigned"):
        archive.inspect(path, untrusting)


def test_a_zero_member_is_not_written_when_the_disk_cannot_hold_it(tmp_path, monkeypatch):
    """A few KiB of gzip that declares (truthfully) a member of many zeros: the free space is checked
    against the declared total before anything is written."""
    size = BOMB_BYTES
    path = gz(tmp_path / "zeros.tar.gz",
              member(MANIFEST_NAME, manifest_bytes({"database.sqlite": b"\0" * size})),
              header("database.sqlite", size), zeros(size))
    assert path.stat().st_size < 64 << 10
    free = diskspace.needed_bytes(size) - 1
    monkeypatch.setattr(diskspace.shutil, "disk_usage", lambda _: SimpleNamespace(free=free))
    into = tmp_path / "into"
    into.mkdir()

    with pytest.raises(BackupError, match=f"{size} bytes declared"):
        archive.extract(path, into, TRUSTING)
    assert list(into.iterdir()) == []


def test_a_member_larger_than_declared_is_not_written_past_its_declared_size(tmp_path, monkeypatch):
    """The archive changes between the check and the extraction: the member grows, the manifest stays."""
    manifest, database = good_manifest_and_database()
    path = gz(tmp_path / "a.tar.gz", member(MANIFEST_NAME, manifest), member("database.sqlite", database))
    grown = gz(tmp_path / "grown.tar.gz", member(MANIFEST_NAME, manifest),
               header("database.sqlite", BOMB_BYTES), zeros(BOMB_BYTES))
    checked = archive.inspect

    def check_then_swap(*args, **kwargs):
        result = checked(*args, **kwargs)
        os.replace(grown, path)
        return result

    monkeypatch.setattr(archive, "inspect", check_then_swap)
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(ArchiveInvalid, match=f"holds {BOMB_BYTES} bytes, the manifest says {len(database)}"):
        archive.extract(path, into, TRUSTING)
    assert sum(f.stat().st_size for f in into.rglob("*") if f.is_file()) <= len(database)


def test_a_copy_stops_as_soon_as_more_than_the_declared_size_arrives():
    written = io.BytesIO()
    with pytest.raises(ArchiveInvalid, match="more than the 1000 bytes"):
        limits.copy_at_most("database.sqlite", io.BytesIO(b"x" * BOMB_BYTES), written, max_bytes=1000)
    assert len(written.getvalue()) <= 1000
    assert limits.copy_at_most("d", io.BytesIO(b"abc"), io.BytesIO(), max_bytes=3) == (
        3, hashlib.sha256(b"abc").hexdigest())


def test_free_space_needed_is_the_declared_size_and_a_margin():
    assert diskspace.needed_bytes(0) == diskspace.MARGIN_MIN_BYTES
    assert diskspace.needed_bytes(10 << 30) == (10 << 30) + (1 << 30)


def test_damaged_archives_are_refused_never_crash(tmp_path):
    """Random bytes changed anywhere in a good archive: refused (or still fine), never another exception."""
    manifest, database = good_manifest_and_database()
    good = gz(tmp_path / "good.tar.gz", member(MANIFEST_NAME, manifest), member("database.sqlite", database))
    data, rng = bytearray(good.read_bytes()), random.Random(12)
    for trial in range(150):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path = tmp_path / f"damaged-{trial}.tar.gz"
        path.write_bytes(bytes(damaged))
        try:
            archive.inspect(path, TRUSTING)
        except BackupError:
            pass
