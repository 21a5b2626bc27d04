"""The embedded default on a data directory it cannot write: read-only, or a full disk at start.
Each test mounts a small tmpfs of its own (root only); where that is not allowed it is skipped,
with the reason shown."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.services import medic_env, run_medic

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
