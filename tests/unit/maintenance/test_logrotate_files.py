"""The filesystem side: medic's own log handler reopens after a rename; gzip never leaves a partial archive."""

from __future__ import annotations

import gzip
import json
import logging
import os

import pytest

from config.logging import configure_logging
from workers.maintenance.gzipfile import SourceChanged, gzip_file
from workers.maintenance.logrotate_files import list_files, rotate_by_copy, rotate_by_rename
from workers.masking import mask_text


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level


def test_own_log_file_is_reopened_after_a_rename_and_masked(tmp_path, root_logging):
    log_file = tmp_path / "logs" / "medic.log"
    configure_logging("INFO", "json", redact=mask_text, log_file=log_file)
    log = logging.getLogger("medic.test")
    log.info("first", extra={"dsn": "postgresql://u:hunter2@db/x"})
    rotate_by_rename(log_file.parent, "medic.log", "medic.log.20261129T201500Z")
    log.info("second")
    rotated = (log_file.parent / "medic.log.20261129T201500Z").read_text().splitlines()
    assert [json.loads(line)["event"] for line in rotated] == ["first"]
    assert "hunter2" not in rotated[0]
    assert [json.loads(line)["event"] for line in log_file.read_text().splitlines()] == ["second"]


def test_an_unwritable_log_file_leaves_stderr_logging_and_says_why(tmp_path, root_logging, capsys):
    (tmp_path / "file").write_text("")
    configure_logging("INFO", "text", log_file=tmp_path / "file" / "medic.log")
    assert len(logging.getLogger().handlers) == 1
    assert "cannot write MEDIC_LOG_FILE" in capsys.readouterr().err


def test_gzip_replaces_the_source_with_a_complete_archive(tmp_path):
    source = tmp_path / "app.log.20261129T201500Z"
    source.write_bytes(b"line\n" * 10_000)
    os.chmod(source, 0o640)
    source_bytes, archive_bytes = gzip_file(source, tmp_path / (source.name + ".gz"))
    archive = tmp_path / (source.name + ".gz")
    assert gzip.decompress(archive.read_bytes()) == b"line\n" * 10_000
    assert (source_bytes, archive_bytes) == (50_000, archive.stat().st_size)
    assert not source.exists() and not (tmp_path / (source.name + ".gz.tmp")).exists()
    assert archive.stat().st_mode & 0o777 == 0o640


def test_gzip_of_a_source_written_meanwhile_changes_nothing(tmp_path, monkeypatch):
    source = tmp_path / "app.log.20261129T201500Z"
    source.write_bytes(b"line\n")
    real_fsync = os.fsync

    def fsync_then_append(fd):  # a late writer appends while the archive is being finished
        real_fsync(fd)
        with open(source, "ab") as late:
            late.write(b"late\n")

    monkeypatch.setattr(os, "fsync", fsync_then_append)
    with pytest.raises(SourceChanged):
        gzip_file(source, tmp_path / (source.name + ".gz"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]
    assert source.read_bytes() == b"line\nlate\n"


def test_copy_rotation_leaves_an_empty_live_file_with_the_same_identity(tmp_path):
    live = tmp_path / "app.log"
    live.write_bytes(b"a\nb\n")
    inode = live.stat().st_ino
    assert rotate_by_copy(tmp_path, "app.log", "app.log.20261129T201500Z") == 4
    assert live.read_bytes() == b"" and live.stat().st_ino == inode
    assert (tmp_path / "app.log.20261129T201500Z").read_bytes() == b"a\nb\n"


def test_a_failed_copy_is_removed_and_the_live_file_left_whole(tmp_path, monkeypatch):
    live = tmp_path / "app.log"
    live.write_bytes(b"a\nb\n")

    def disk_full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fchmod", disk_full)
    with pytest.raises(OSError, match="No space left"):
        rotate_by_copy(tmp_path, "app.log", "app.log.20261129T201500Z")
    assert [p.name for p in tmp_path.iterdir()] == ["app.log"] and live.read_bytes() == b"a\nb\n"


def test_rotation_never_overwrites(tmp_path):
    for name in ("app.log", "app.log.20261129T201500Z"):
        (tmp_path / name).write_text(name)
    with pytest.raises(FileExistsError):
        rotate_by_rename(tmp_path, "app.log", "app.log.20261129T201500Z")
    with pytest.raises(FileExistsError):
        rotate_by_copy(tmp_path, "app.log", "app.log.20261129T201500Z")
    assert (tmp_path / "app.log").read_text() == "app.log"


def test_listing_skips_symlinks_and_directories(tmp_path):
    (tmp_path / "a.log").write_text("x")
    (tmp_path / "d.log").mkdir()
    (tmp_path / "s.log").symlink_to(tmp_path / "a.log")
    assert [(f.name, f.size_bytes) for f in list_files(tmp_path)] == [("a.log", 1)]
