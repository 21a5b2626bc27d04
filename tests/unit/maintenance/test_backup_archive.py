"""The archive file: written whole or not at all, read back only when every member is safe and matches."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workers.maintenance.backup import archive
from workers.maintenance.backup.errors import ArchiveInvalid
from workers.maintenance.backup.manifest import FORMAT, FORMAT_VERSION, Manifest, entry_for, name_problem, parse
from workers.maintenance.backup.signing import Key
from workers.maintenance.backup.trust import Gate

KEY = Key(b"k" * 32)
SIGNED = Gate(key=KEY, registration_problem=None)  # as for a registered archive
TRUSTING = Gate(key=KEY, registration_problem=None, trust_unsigned=True)  # for the hand-made, unsigned ones


def make_manifest(files: dict[str, Path]) -> Manifest:
    entries = [entry_for(name, path, "database" if name.startswith("database") else "config", source=str(path))
               for name, path in files.items()]
    return Manifest(format=FORMAT, format_version=FORMAT_VERSION, medic_version="0.1.0",
                    created_at=datetime(2026, 11, 29, 20, 30, tzinfo=UTC), database_kind="sqlite",
                    database_url="sqlite:////data/medic.sqlite", schema_revision="0003", tables={"backups": 0},
                    files=entries)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    staged = tmp_path / "staged"
    (staged / "config" / "rules").mkdir(parents=True)
    (staged / "database.sqlite").write_bytes(bytes(range(256)) * 64)
    (staged / "config" / "rules" / "rules.yaml").write_text("version: 1\nrules: []\n")
    return {"database.sqlite": staged / "database.sqlite",
            "config/rules/rules.yaml": staged / "config/rules/rules.yaml"}


def test_written_archive_reads_back_and_extracts(tmp_path, files):
    manifest, path = make_manifest(files), tmp_path / "medic-backup-20261129T203000Z.tar.gz"
    archive.write(path, manifest, files, KEY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, "staged"]  # no partial left behind
    with tarfile.open(path) as tar:
        assert tar.getnames() == ["manifest.json", "manifest.sig", "database.sqlite", "config/rules/rules.yaml"]
    assert archive.inspect(path, SIGNED).manifest == manifest
    into = tmp_path / "into"
    into.mkdir()
    assert archive.extract(path, into, SIGNED).manifest == manifest
    for name, source in files.items():
        assert (into / name).read_bytes() == source.read_bytes()


def test_a_failed_write_leaves_neither_archive_nor_partial(tmp_path, files):
    path = tmp_path / "medic-backup-x.tar.gz"
    manifest = make_manifest(files)
    files["config/rules/rules.yaml"].unlink()
    with pytest.raises(FileNotFoundError):
        archive.write(path, manifest, files, KEY)
    assert not path.exists() and not archive.partial_path(path).exists()


def test_extract_wants_an_empty_directory(tmp_path, files):
    path = tmp_path / "a.tar.gz"
    archive.write(path, make_manifest(files), files, KEY)
    (tmp_path / "into").mkdir()
    (tmp_path / "into" / "x").touch()
    with pytest.raises(ValueError, match="not empty"):
        archive.extract(path, tmp_path / "into", SIGNED)


def _tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(("members", "member", "reason"), [
    ([], None, "is empty"),
    ([("database.sqlite", b"x")], "database.sqlite", "comes first, where manifest.json must be"),
    ([("manifest.json", b"x" * (archive.MANIFEST_MAX_BYTES + 1))], "manifest.json", "larger than"),
    ([("manifest.json", b"[]")], "manifest.json", "invalid"),
], ids=["empty", "manifest not first", "manifest too large", "manifest not an object"])
def test_malformed_archives_are_refused(tmp_path, members, member, reason):
    with pytest.raises(ArchiveInvalid) as refused:
        archive.inspect(_tar(tmp_path / "bad.tar.gz", members), TRUSTING)
    assert refused.value.member == member and reason in refused.value.reason


def test_a_member_larger_than_the_manifest_says_is_refused_before_it_is_read(tmp_path, files):
    manifest = make_manifest(files)
    data = json.loads(manifest.encode())
    data["files"][0]["size_bytes"] = 1
    path = _tar(tmp_path / "bad.tar.gz", [("manifest.json", json.dumps(data).encode()),
                                          ("database.sqlite", files["database.sqlite"].read_bytes())])
    with pytest.raises(ArchiveInvalid, match="holds 16384 bytes, the manifest says 1"):
        archive.inspect(path, TRUSTING)


def test_extract_refuses_a_member_the_checked_manifest_does_not_list(tmp_path, files, monkeypatch):
    """The file changed between the check and the extraction: a member was added, the manifest kept."""
    path, changed = tmp_path / "a.tar.gz", tmp_path / "changed.tar.gz"
    archive.write(path, make_manifest(files), files, KEY)
    with tarfile.open(path) as original, tarfile.open(changed, "w:gz") as copy:
        for member in original.getmembers():
            copy.addfile(member, original.extractfile(member))
        extra = tarfile.TarInfo("config/extra.yaml")
        copy.addfile(extra, io.BytesIO(b""))
    checked = archive.inspect

    def check_then_change(*args, **kwargs):
        result = checked(*args, **kwargs)
        changed.replace(path)
        return result

    monkeypatch.setattr(archive, "inspect", check_then_change)
    (tmp_path / "into").mkdir()
    with pytest.raises(ArchiveInvalid, match="config/extra.yaml.*not listed"):
        archive.extract(path, tmp_path / "into", SIGNED)


@pytest.mark.parametrize(("name", "problem"), [
    ("database.sqlite", None),
    ("config/rules/rules.yaml", None),
    ("..hidden", None),
    ("/etc/passwd", "absolute path"),
    ("../escape", "'..' component"),
    ("config/../../escape", "'..' component"),
    ("config//double", "empty or '.'"),
    ("./database.sqlite", "empty or '.'"),
    ("config/", "empty or '.'"),
    ("", "empty name"),
    ("c:\\windows", "backslash"),
    ("nul\0byte", "NUL byte"),
])
def test_member_names(name, problem):
    found = name_problem(name)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize("bad_name", ["../x", "/abs", "manifest.json", "manifest.sig"])
def test_the_manifest_may_not_list_unsafe_names(files, bad_name):
    data = json.loads(make_manifest(files).encode())
    data["files"][1]["name"] = bad_name
    with pytest.raises(ArchiveInvalid, match="files.1.name"):
        parse(json.dumps(data).encode())


def test_the_manifest_must_list_the_database(files):
    data = json.loads(make_manifest(files).encode())
    del data["files"][0]
    with pytest.raises(ArchiveInvalid, match="lists no database.sqlite"):
        parse(json.dumps(data).encode())
