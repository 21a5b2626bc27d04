"""A fresh virtualenv with only medic's client (`pip install client/`) and kombu[redis]: no server code.

`client_venv(tmp_path_factory)` builds it once per test session under pytest's tmp dir (later calls return
the same one); a test module wraps it in a session-scoped fixture of its own. The client is
installed from a copy of client/ (setuptools writes build/ and *.egg-info next to the sources it
builds). pip is quiet and uses the machine's pip cache; a pip step that fails fails the tests with pip's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import REPO

CLIENT_DIR = REPO / "client"
# Besides the client: kombu's Redis transport (redis, packaging), nothing of medic's server.
BROKER_LIBRARIES = ("kombu[redis]",)
PIP_TIMEOUT_S = 300


@dataclass(frozen=True)
class ClientVenv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def env(self, **extra: str) -> dict[str, str]:
        """The test process's environment without anything that would reach medic's checkout or venv."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MEDIC_", "PYTHON", "VIRTUAL_ENV", "SHOP_"))}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env


def run_step(args: list[str], what: str, env: dict[str, str] | None = None) -> None:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what} did not finish in {PIP_TIMEOUT_S}s: {exc}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"{what} failed (exit {result.returncode}): {' '.join(args)}\n"
                    f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}", pytrace=False)


def build(root: Path) -> ClientVenv:
    source = root / "client-src"
    shutil.copytree(CLIENT_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = ClientVenv(root / "venv")
    run_step([sys.executable, "-m", "venv", str(venv.root)], "creating the client's venv")
    pip_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    pip_env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    run_step([str(venv.python), "-m", "pip", "install", "--quiet", str(source), *BROKER_LIBRARIES],
             "pip install of the client", env=pip_env)
    return venv


_built: dict[Path, ClientVenv] = {}


def client_venv(tmp_path_factory: pytest.TempPathFactory) -> ClientVenv:
    """One fresh venv with the client installed, for the whole test session (cached per session tmp dir)."""
    base = tmp_path_factory.getbasetemp()
    if base not in _built:
        _built[base] = build(tmp_path_factory.mktemp("client-venv"))
    return _built[base]
