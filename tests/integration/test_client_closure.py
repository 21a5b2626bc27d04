"""medic's client installs and imports alone: in a fresh venv with only `pip install client/`, importing
every client module pulls in nothing of medic's server, and the distribution ships only `medic_client`."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.client_venv import ClientVenv, client_venv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def venv(tmp_path_factory) -> ClientVenv:
    """A fresh venv with only the client (and kombu[redis]) installed: tests/support/client_venv.py."""
    return client_venv(tmp_path_factory)

SERVER_MODULES = ("sqlalchemy", "fastapi", "flower", "psycopg", "pydantic", "alembic", "uvicorn",
                  "workers", "config", "tasks", "schedules")

# Run isolated (-I: no cwd, no PYTHONPATH, no user site) from an empty directory.
IMPORT_ALL = """
import importlib, json, pkgutil, sys
import medic_client, medic_client.celery
names = sorted(m.name for m in pkgutil.walk_packages(medic_client.__path__, "medic_client."))
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""

DISTRIBUTION_FILES = """
import json
from importlib import metadata
files = metadata.files("medic-client") or []
print(json.dumps({"files": [str(f) for f in files], "top_level": metadata.distribution("medic-client")
                  .read_text("top_level.txt")}))
"""


def run_in(venv, code: str, cwd) -> dict:
    result = subprocess.run([str(venv.python), "-I", "-c", code], capture_output=True, text=True, cwd=cwd,
                            env=venv.env(), timeout=60, check=False)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.splitlines()[-1])


def test_client_modules_import_nothing_of_the_server(venv, tmp_path):
    found = run_in(venv, IMPORT_ALL, tmp_path)
    assert {"medic_client.celery", "medic_client.events", "medic_client.sending", "medic_client.replays",
            "medic_client.masking"} <= set(found["imported"])
    leaked = sorted(m for m in found["modules"] if m.split(".")[0] in SERVER_MODULES)
    assert leaked == [], f"importing the client pulled in server modules: {leaked}"


def test_distribution_ships_only_the_medic_client_package(venv, tmp_path):
    found = run_in(venv, DISTRIBUTION_FILES, tmp_path)
    tops = {path.split("/")[0] for path in found["files"]}
    assert any(path.startswith("medic_client/celery.py") for path in found["files"]), found["files"]
    packages = {top for top in tops if not top.endswith(".dist-info") and top != ".."}
    assert packages == {"medic_client"}, f"the distribution ships {sorted(tops)}"
    if found["top_level"] is not None:
        assert found["top_level"].split() == ["medic_client"]
