"""The embedded default on a data directory it cannot write: read-only, or a full disk at start.
Each test mounts a small tmpfs of its own (root only); where that is not allowed it is skipped,
with the reason shown."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from celery import Celery

from tests.support.services import Process, count_rows, medic_command, medic_env, run_medic, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def mount(tmp_path):
    mounted: list[Path] = []

    def tmpfs(options: str) -> Path:
        target = tmp_path / f"disk{len(mounted)}"
        target.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(target)
        return target

    yield tmpfs
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], check=False)


def fill(directory: Path) -> None:
    descriptor = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(descriptor, b"\0" * 4096)
    except OSError:  # no space left on the device: full
        pass
    finally:
        os.close(descriptor)


def test_a_read_only_data_directory_stops_medic_run_with_one_line(mount):
    data_dir = mount("size=1m,ro")
    result = run_medic(medic_env(data_dir=data_dir), "run", timeout_s=60)
    assert result.returncode == 5, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "MEDIC_DATA_DIR" in result.stderr and "not writable" in result.stderr


def test_a_full_disk_at_start_stops_medic_run_with_one_line(mount):
    data_dir = mount("size=256k")
    fill(data_dir)
    result = run_medic(medic_env(data_dir=data_dir), "run", timeout_s=60)
    assert result.returncode == 5, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3, result.stderr


def test_a_disk_that_fills_while_medic_run_works_is_waited_out(mount, tmp_path):
    """The embedded worker backs off while its disk is full and goes on when space returns: it never exits."""
    data_dir = mount("size=8m")
    env = medic_env(data_dir=data_dir, log_format="text")
    run = Process(medic_command("run", "--concurrency", "1"), env, tmp_path / "run.log")
    database = f"sqlite:///{data_dir / 'medic.sqlite'}"
    try:
        run.wait_ready(timeout_s=90)
        client = Celery("some-app", broker=f"sqla+sqlite:///{data_dir / 'broker.sqlite'}")
        client.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)

        def report(n: int) -> None:
            client.send_task("medic.report", queue="medic.errors", args=[{
                "error_type": "ConnectionRefusedError", "message": f"refused ({n})", "service": "partner-api"}])

        report(0)
        wait_for(lambda: count_rows(database, "occurrences") == 1, timeout_s=30, what="the first event stored")
        for n in range(1, 40):  # queued before the disk fills: the worker meets the full disk storing them
            report(n)
        fill(data_dir)
        time.sleep(15)
        assert run.proc.poll() is None, run.output()[-3000:]
        (data_dir / "filler").unlink()
        report(40)
        wait_for(lambda: count_rows(database, "occurrences") == 41, timeout_s=90, what="all stored once space is back")
        assert run.proc.poll() is None
    finally:
        run.terminate()
