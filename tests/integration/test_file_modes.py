"""Issue 12, item 13: medic's data directory and the files in it are for medic's user only.

broker.sqlite holds raw, unmasked events for up to a day; medic.sqlite and the log file hold
what intake kept. Each test runs real `medic` processes on a data dir of its own and reads the
modes they left: the directory 0700, every file 0600 (SQLite's -wal/-shm/-journal too).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.support.services import Process, medic_command, medic_env, run_medic

pytestmark = pytest.mark.integration

DIR_MODE, FILE_MODE = 0o700, 0o600


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(directory: Path) -> dict[str, int]:
    return {str(path.relative_to(directory)): mode(path) for path in directory.rglob("*")}


def assert_private(data_dir: Path) -> None:
    assert mode(data_dir) == DIR_MODE, oct(mode(data_dir))
    found = modes_under(data_dir)
    wrong = {name: oct(m) for name, m in found.items()
             if m != (DIR_MODE if (data_dir / name).is_dir() else FILE_MODE)}
    assert not wrong, wrong


def test_db_upgrade_creates_a_private_data_dir(tmp_path):
    data_dir = tmp_path / "data"
    result = run_medic(medic_env(data_dir=data_dir), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert (data_dir / "medic.sqlite").exists()
    assert_private(data_dir)


def test_medic_run_keeps_its_database_broker_and_log_private(tmp_path):
    data_dir = tmp_path / "data"
    log_file = data_dir / "medic.log"
    run = Process(medic_command("run", "--concurrency", "1"), medic_env(data_dir=data_dir, log_file=log_file,
                                                                         log_format="text"), tmp_path / "run.log")
    try:
        run.wait_ready(timeout_s=90)
        # A message in the broker: its file is written, not only created.
        sent = run_medic(medic_env(data_dir=data_dir), "report", "--error-type", "KeyError", "--message", "'x'",
                         "--service", "billing")
        assert sent.returncode == 0, sent.stderr
    finally:
        assert run.terminate(60) == 0, run.output()[-3000:]
    names = set(modes_under(data_dir))
    assert {"medic.sqlite", "broker.sqlite", "medic.log"} <= names, names
    assert_private(data_dir)


def test_a_loose_data_dir_of_medics_own_is_tightened_with_a_warning(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    assert run_medic(medic_env(data_dir=data_dir), "db", "upgrade").returncode == 0
    data_dir.chmod(0o755)  # as an older medic left it
    result = run_medic(medic_env(data_dir=data_dir), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert mode(data_dir) == DIR_MODE
    assert "MEDIC_DATA_DIR" in result.stderr and "0755" in result.stderr and "0700" in result.stderr


def test_a_data_dir_holding_other_files_is_not_changed_but_warned_about(tmp_path):
    data_dir = tmp_path / "shared"
    data_dir.mkdir()
    data_dir.chmod(0o755)
    (data_dir / "notes.txt").write_text("someone else's")
    result = run_medic(medic_env(data_dir=data_dir), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert mode(data_dir) == 0o755
    assert "MEDIC_DATA_DIR" in result.stderr and "chmod 700" in result.stderr
    assert mode(data_dir / "medic.sqlite") == FILE_MODE
