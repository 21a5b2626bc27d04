"""The log-rotation job on real directories: retention, dry run, bad targets, crashes mid-compress, run rows."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import load_settings
from tests.support.services import REPO, wait_for
from workers.maintenance import runs
from workers.maintenance.job import JobContext
from workers.maintenance.logrotate import run
from workers.maintenance.runner import run_job

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 29, 20, 15, 0, tzinfo=UTC)


def job(tmp_path: Path, targets: list[dict], *, dry_run: bool = False, now: datetime = NOW, **rotation):
    settings = load_settings(data_dir=str(tmp_path / "data"), log_rotation={**rotation, "targets": targets})
    return run(JobContext(settings=settings, sessions=None, dry_run=dry_run, clock=lambda: now))


def write(path: Path, data: bytes, *, age_s: float = 0) -> Path:
    path.write_bytes(data)
    stamp = (NOW - timedelta(seconds=age_s)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_rotates_compresses_and_leaves_other_files_alone(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "app.log", b"x\n" * 600, age_s=300)
    write(logs / "small.log", b"x\n", age_s=300)
    for other in ("app.txt", "app.log.1", "app.log.20261129T100000Z.bak"):
        write(logs / other, b"y" * 5000)
    result = job(tmp_path, [{"name": "app", "directory": str(logs), "max_size_bytes": 1000}])
    assert result.counts == {"rotated": 1, "compressed": 1, "deleted": 0, "bytes_freed": result.counts["bytes_freed"],
                             "errors": 0} and result.counts["bytes_freed"] > 1000
    assert names(logs) == ["app.log.1", "app.log.20261129T100000Z.bak", "app.log.20261129T201500Z.gz", "app.txt",
                           "small.log"]
    assert gzip.decompress((logs / "app.log.20261129T201500Z.gz").read_bytes()) == b"x\n" * 600
    assert not result.failed and result.summary.startswith("rotated 1, compressed 1, deleted 0")
    again = job(tmp_path, [{"name": "app", "directory": str(logs), "max_size_bytes": 1000}])
    assert again.counts["rotated"] + again.counts["compressed"] + again.counts["deleted"] == 0  # idempotent


def test_retention_by_count_total_size_and_age_deletes_exactly_the_right_files(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    hours = [f"app.log.20261129T{h:02d}0000Z.gz" for h in (19, 18, 17, 16, 15)]  # newest first, 100 bytes each
    for name in hours:
        write(logs / name, b"z" * 100)
    write(logs / "other.log.20261101T000000Z.gz", b"z" * 100)  # another log file: its own count
    target = {"directory": str(logs), "keep_count": 4, "keep_total_bytes": None, "retention_days": None}
    assert job(tmp_path, [target]).counts["deleted"] == 1
    assert names(logs) == sorted([*hours[:4], "other.log.20261101T000000Z.gz"])
    job(tmp_path, [{**target, "keep_total_bytes": 350}])
    assert names(logs) == sorted([*hours[:3], "other.log.20261101T000000Z.gz"])
    result = job(tmp_path, [{**target, "retention_days": 3 / 24}])  # 17:00 is 3h15 old, 18:00 2h15
    assert names(logs) == sorted(hours[:2])
    assert result.counts["deleted"] == 2 and result.counts["bytes_freed"] == 200  # 17:00 and other.log's


def test_dry_run_changes_nothing_and_reports_the_plan(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "app.log", b"x" * 2000, age_s=300)
    write(logs / "app.log.20261129T190000Z", b"x" * 100, age_s=3600)
    write(logs / "app.log.20261129T180000Z.gz", b"x" * 100)
    write(logs / "app.log.20261129T170000Z.gz.tmp", b"x" * 10)
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in logs.iterdir()}
    result = job(tmp_path, [{"name": "app", "directory": str(logs), "max_size_bytes": 1000, "keep_count": 2}],
                 dry_run=True)
    assert {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in logs.iterdir()} == before
    assert result.counts == {"rotated": 1, "compressed": 2, "deleted": 2, "bytes_freed": 110, "errors": 0}
    assert result.summary.startswith("dry run, nothing changed: would rotate 1, compress 2, delete 2")
    assert "app: rotate app.log -> app.log.20261129T201500Z" in result.summary
    assert "delete app.log.20261129T180000Z.gz (beyond keep_count 2)" in result.summary


def test_a_bad_target_is_reported_and_the_others_still_run(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "app.log", b"x" * 2000)
    (tmp_path / "plain-file").write_text("")
    targets = [{"name": "gone", "directory": str(tmp_path / "missing")},
               {"name": "file", "directory": str(tmp_path / "plain-file")},
               {"name": "app", "directory": str(logs), "max_size_bytes": 1000}]
    result = job(tmp_path, targets)
    assert result.failed and result.counts["errors"] == 2 and result.counts["rotated"] == 1
    assert f"target 'gone': directory {tmp_path / 'missing'} does not exist" in result.summary
    assert f"target 'file': {tmp_path / 'plain-file'} is not a directory" in result.summary


def test_a_failing_action_is_an_error_for_its_target_only(tmp_path):
    blocked, logs = tmp_path / "blocked", tmp_path / "logs"
    for directory in (blocked, logs):
        directory.mkdir()
        write(directory / "app.log", b"x" * 2000, age_s=300)  # quiet: its compression is planned too
    (blocked / "app.log.20261129T201500Z").mkdir()  # takes the rotated name (listings skip directories)
    result = job(tmp_path, [{"name": "blocked", "directory": str(blocked), "max_size_bytes": 1000},
                            {"name": "app", "directory": str(logs), "max_size_bytes": 1000}])
    assert result.counts["errors"] == 1 and result.counts["rotated"] == 1 and result.failed
    assert "target 'blocked': rotate app.log -> app.log.20261129T201500Z (2000 bytes >= max_size_bytes 1000): " \
           f"{blocked / 'app.log.20261129T201500Z'} already exists" in result.summary
    assert (blocked / "app.log").stat().st_size == 2000


def test_two_targets_matching_one_file_leave_it_to_the_first(tmp_path):
    write(tmp_path / "app.log", b"x" * 2000)
    result = job(tmp_path, [{"name": "first", "directory": str(tmp_path), "max_size_bytes": 1000, "compress": False},
                            {"name": "second", "directory": str(tmp_path), "pattern": "app.*g", "max_size_bytes": 1}])
    assert result.counts["rotated"] == 1
    assert "target 'second': app.log is also matched by target 'first', which handles it" in result.summary


KILLABLE_JOB = """
import sys
from config.settings import load_settings
from workers.maintenance.job import JobContext
from workers.maintenance.logrotate import run
run(JobContext(settings=load_settings(), sessions=None))
"""


def test_a_rotation_killed_mid_compress_leaves_no_partial_archive_and_the_next_run_finishes(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    data = os.urandom(48 * 1024 * 1024)  # incompressible: gzip takes about a second
    rotated = write(logs / "app.log.20261129T190000Z", data, age_s=3600)
    targets = [{"name": "app", "directory": str(logs), "compress_after_s": 0}]
    env = {**os.environ, "PYTHONPATH": str(REPO), "MEDIC_DATA_DIR": str(tmp_path / "data"),
           "MEDIC_LOG_ROTATION__TARGETS": json.dumps(targets)}
    partial = logs / "app.log.20261129T190000Z.gz.tmp"
    process = subprocess.Popen([sys.executable, "-c", KILLABLE_JOB], env=env, cwd=REPO)
    try:
        wait_for(lambda: partial.exists() and partial.stat().st_size > 1024 * 1024, timeout_s=20, interval_s=0.005,
                 what="the compression to be under way")
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert names(logs) == ["app.log.20261129T190000Z", "app.log.20261129T190000Z.gz.tmp"]
    assert rotated.read_bytes() == data

    result = job(tmp_path, targets)
    assert names(logs) == ["app.log.20261129T190000Z.gz"]
    assert gzip.decompress((logs / "app.log.20261129T190000Z.gz").read_bytes()) == data
    assert result.counts["compressed"] == 1 and result.counts["deleted"] == 1  # the partial archive


@pytest.mark.parametrize("broken", [False, True])
def test_through_the_runner_a_run_row_records_the_outcome(database_url, tmp_path, broken):
    logs = tmp_path / "logs"
    logs.mkdir()
    write(logs / "app.log", b"x" * 2000)
    targets = [{"name": "app", "directory": str(logs), "max_size_bytes": 1000}]
    if broken:
        targets.insert(0, {"name": "gone", "directory": str(tmp_path / "missing")})
    settings = load_settings(database_url=database_url, data_dir=str(tmp_path / "data"),
                             log_rotation={"targets": targets})
    outcome = run_job("log-rotation", settings, trigger="test")
    assert outcome.run.status == (runs.FAILED if broken else runs.SUCCEEDED)
    assert outcome.run.counts == {**outcome.result.counts, "rotated": 1, "errors": int(broken)}
    assert outcome.run.summary == outcome.result.summary and outcome.run.finished_at is not None
    assert [p.name for p in logs.iterdir() if p.name != "app.log"][0].startswith("app.log.")
