"""Issue 12, item 13: which data dirs medic tightens, and that it never fails a start over one."""

from __future__ import annotations

import os
import stat

from workers.cli.processes import is_medics_own, private_data_dir


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_only_medics_own_files_make_a_dir_medics_own():
    own = ["medic.sqlite", "medic.sqlite-wal", "broker.sqlite-journal", "beat-heartbeat", "beat-schedule.json",
           "backups", "backup-signing.key", "medic.log.1.gz"]
    assert is_medics_own(own, owner_uid=1000, my_uid=1000)
    assert is_medics_own([], owner_uid=1000, my_uid=1000)
    assert not is_medics_own([*own, ".bashrc"], owner_uid=1000, my_uid=1000)
    assert not is_medics_own(own, owner_uid=0, my_uid=1000)


def test_a_new_data_dir_is_private_and_needs_no_warning(tmp_path):
    assert private_data_dir(tmp_path / "a" / "data") is None
    assert mode(tmp_path / "a" / "data") == 0o700


def test_a_private_one_is_left_alone(tmp_path):
    (tmp_path / "data").mkdir(mode=0o700)
    os.chmod(tmp_path / "data", 0o700)
    assert private_data_dir(tmp_path / "data") is None


def test_a_loose_one_of_medics_is_tightened_and_said_so(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "broker.sqlite").touch()
    data.chmod(0o755)
    warning = private_data_dir(data)
    assert warning and "0755" in warning and "0700" in warning
    assert mode(data) == 0o700


def test_one_that_cannot_be_created_is_a_warning_not_a_failure(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    warning = private_data_dir(blocker / "data")
    assert warning and "MEDIC_DATA_DIR" in warning
