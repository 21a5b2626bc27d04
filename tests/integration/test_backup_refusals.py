"""Restore refuses tampered and path-traversal archives before extracting anything: nothing is
written outside its extraction directory (which stays empty) and the live database is untouched.

The bad archives are rebuilt copies, unregistered: restore refuses them as untrusted first
(test_backup_attacks.py). Here they are accepted with --trust-unsigned, and every other check holds."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from config.settings import load_settings
from tests.support import services
from workers.intake.service import IntakeService
from workers.maintenance.backup import job, restore
from workers.maintenance.backup.errors import ArchiveInvalid
from workers.maintenance.backup.lookup import locate
from workers.maintenance.job import JobContext
from workers.storage import migrate
from workers.storage.db import engine_for, session_factory
from workers.storage.models import Base

pytestmark = pytest.mark.integration


def _member(name: str, data: bytes = b"", **attrs) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, (data if info.isreg() else None)


def rebuild(source: Path, dest: Path, *, edit: dict[str, Callable[[bytes], bytes]] | None = None,
            extra: list[tuple[tarfile.TarInfo, bytes | None]] = (), drop: tuple[str, ...] = ()) -> Path:
    """A copy of the archive with members edited, dropped, or added at the end."""
    with tarfile.open(source) as original, tarfile.open(dest, "w:gz") as copy:
        for member in original.getmembers():
            if member.name in drop:
                continue
            data = original.extractfile(member).read()
            if edit and member.name in edit:
                data = edit[member.name](data)
                member.size = len(data)
            copy.addfile(member, io.BytesIO(data))
        for info, data in extra:
            copy.addfile(info, io.BytesIO(data) if data is not None else None)
    return dest


def flip_middle_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


def edit_manifest(change: Callable[[dict], None]) -> Callable[[bytes], bytes]:
    def edited(data: bytes) -> bytes:
        manifest = json.loads(data)
        change(manifest)
        return json.dumps(manifest).encode()
    return edited


def _database_sha(manifest: dict) -> None:
    manifest["files"][0]["sha256"] = "0" * 64


def _list_a_missing_file(manifest: dict) -> None:
    manifest["files"].append({**manifest["files"][0], "name": "config/settings/gone.yaml", "role": "config"})


def _future_format(manifest: dict) -> None:
    manifest["format_version"] = 99


# case -> (how to make the bad archive from a good one, the member the refusal names, words of the reason)
def cases(outside: Path, database: str) -> dict[str, tuple[Callable[[Path, Path], Path], str | None, str]]:
    return {
        "modified member": (lambda a, d: rebuild(a, d, edit={database: flip_middle_byte}), database,
                            "sha256 does not match"),
        "modified manifest checksum": (lambda a, d: rebuild(a, d, edit={"manifest.json": edit_manifest(_database_sha)}),
                                       database, "sha256 does not match"),
        "manifest lists a missing file": (lambda a,
                                          d: rebuild(a, d, edit={"manifest.json": edit_manifest(_list_a_missing_file)}),
                                          "config/settings/gone.yaml", "missing from the archive"),
        "manifest of an unknown format": (lambda a,
                                          d: rebuild(a, d, edit={"manifest.json": edit_manifest(_future_format)}),
                                          "manifest.json", "format version 99"),
        "manifest not JSON": (lambda a, d: rebuild(a, d, edit={"manifest.json": lambda _: b"{not json"}),
                              "manifest.json", "not valid JSON"),
        "member dropped": (lambda a, d: rebuild(a, d, drop=(database,)), database, "missing from the archive"),
        "unlisted member": (lambda a, d: rebuild(a, d, extra=[_member("config/extra.yaml", b"x: 1\n")]),
                            "config/extra.yaml", "not listed in the manifest"),
        "duplicate member": (lambda a, d: rebuild(a, d, extra=[_member(database, b"evil")]), database, "appears twice"),
        "truncated": (lambda a, d: _truncated(a, d), None, "truncated"),
        "absolute path": (lambda a, d: rebuild(a, d, extra=[_member(str(outside / "absolute.txt"), b"owned")]),
                          str(outside / "absolute.txt"), "absolute path"),
        "dot-dot": (lambda a, d: rebuild(a, d, extra=[_member("../../dotdot.txt", b"owned")]), "../../dotdot.txt",
                    "'..'"),
        "symlink": (lambda a,
                    d: rebuild(a, d, extra=[_member("config/link", type=tarfile.SYMTYPE, linkname=str(outside)),
                                            _member("config/link/through-link.txt", b"owned")]),
                    "config/link", "symbolic link"),
        "hard link": (lambda a, d: rebuild(a, d, extra=[_member("config/hard", type=tarfile.LNKTYPE,
                                                                linkname=str(outside / "target.txt"))]),
                      "config/hard", "hard link"),
        "device": (lambda a,
                   d: rebuild(a, d, extra=[_member("config/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)]),
                   "config/dev", "device or a fifo"),
    }


def _truncated(archive: Path, dest: Path) -> Path:
    data = archive.read_bytes()
    dest.write_bytes(data[: len(data) * 2 // 3])
    return dest


def rows(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                    for t in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def good_archive(request, tmp_path_factory):
    """One database with a few rows and one good archive of it per database kind, shared by the cases:
    a refusal changes nothing, which each case checks."""
    root = tmp_path_factory.mktemp(request.param)
    name = services.create_pg_database() if request.param == "postgresql" else None
    url = services.pg_url(name) if name else f"sqlite:///{root / 'medic.sqlite'}"
    migrate.upgrade(url)
    settings = load_settings(database_url=url, data_dir=str(root / "data"))
    try:
        IntakeService(settings).report({"error_type": "KeyError", "message": "'sku'", "service": "shop"},
                                       delivery_id="one")
        assert not job.run(JobContext(settings=settings, sessions=session_factory(url))).failed
        (archive,) = settings.backup_dir.glob("medic-backup-*.tar.gz")
        yield settings, archive
    finally:
        engine_for(url).dispose()
        if name:
            services.drop_pg_database(name)


@pytest.mark.parametrize("case", list(cases(Path("/x"), "db")))
def test_restore_refuses_before_writing_anything(good_archive, tmp_path, case):
    settings, archive = good_archive
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_text("keep me")
    make, member, reason = cases(outside,
                                 "database." + ("sqlite" if "sqlite" in settings.database_url else "pgdump"))[case]
    bad = make(archive, tmp_path / "bad.tar.gz")
    live, files = rows(settings.database_url), tree(tmp_path)
    into = tmp_path / "into"
    into.mkdir()

    with pytest.raises(ArchiveInvalid) as refused:
        restore.prepare(locate(str(bad), settings), restore.target_for(settings, None), settings,
                        into=into, config_to=tmp_path / "config-out", trust_unsigned=True)

    assert refused.value.member == member and reason in refused.value.reason, str(refused.value)
    assert list(into.iterdir()) == []
    assert tree(tmp_path) == files | {"into"}
    assert (outside / "target.txt").read_text() == "keep me" and not (into.parent.parent / "dotdot.txt").exists()
    assert rows(settings.database_url) == live


def test_a_registered_archive_changed_on_disk_is_refused_by_name(good_archive, tmp_path):
    settings, archive = good_archive
    original = archive.read_bytes()
    rebuild(archive, archive.with_name("rebuilt"))  # valid on its own, but not the registered file
    os.replace(archive.with_name("rebuilt"), archive)
    into = tmp_path / "into"
    into.mkdir()
    try:
        with pytest.raises(ArchiveInvalid, match="differs from the one registered"):
            restore.prepare(locate(archive.name, settings), restore.target_for(settings, None), settings,
                            into=into, config_to=None)
        assert list(into.iterdir()) == []
    finally:
        archive.write_bytes(original)
