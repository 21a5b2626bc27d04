"""medic started from an application's directory runs medic's code, not the application's.

Celery imports the app named by -A and its task modules with the current directory first on
sys.path; an application with its own `config/` package (cookiecutter-django), a Celery tutorial's
`tasks.py`, or a `workers/` or `schedules/` package of its own must not take medic's place. Each
process is started as users start it: the installed `medic` script, from the application's
directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import Process, count_rows, medic_env, pg_url, wait_for

pytestmark = pytest.mark.integration

MEDIC_SCRIPT = Path(sys.executable).parent / "medic"
APP_FILES = {
    "config/__init__.py": "",
    "config/celery_app.py": "from celery import Celery\napp = Celery('the-apps-own')\n",
    "tasks.py": "from celery import Celery\napp = Celery('tasks')\n\n@app.task\ndef add(x, y):\n    return x + y\n",
    "workers/__init__.py": "raise ImportError(\"the application's workers package was imported\")\n",
    "schedules/__init__.py": "raise ImportError(\"the application's schedules package was imported\")\n",
}
EVENT = {"error_type": "requests.exceptions.ConnectionError", "message": "Connection refused", "service": "shop"}


@pytest.fixture
def app_dir(tmp_path):
    root = tmp_path / "the-app"
    for name, content in APP_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    assert MEDIC_SCRIPT.exists(), f"the installed medic script is missing: {MEDIC_SCRIPT} (pip install -e .)"
    return root


def test_a_worker_started_in_an_apps_directory_stores_medics_events(app_dir, tmp_path, pg_database, redis_url,
                                                                    client):
    db_url = pg_url(pg_database)
    env = medic_env(database_url=db_url, broker_url=redis_url, data_dir=tmp_path / "data")
    worker = Process([str(MEDIC_SCRIPT), "worker", "--queues", "medic.errors", "--concurrency", "1"], env,
                     tmp_path / "worker.log", cwd=app_dir)
    try:
        worker.wait_ready()
        client.send_task("medic.report", args=[EVENT], queue="medic.errors")
        wait_for(lambda: count_rows(db_url, "occurrences") == 1, timeout_s=30, what="the event stored")
        assert "unregistered task" not in worker.output()
    finally:
        worker.terminate()


def test_medic_run_and_report_from_an_apps_directory(app_dir, tmp_path):
    data_dir = tmp_path / "data"
    env = medic_env(data_dir=data_dir)
    run = Process([str(MEDIC_SCRIPT), "run", "--concurrency", "1"], env, tmp_path / "run.log", cwd=app_dir)
    try:
        run.wait_ready(timeout_s=90)
        reported = subprocess.run([str(MEDIC_SCRIPT), "report", "--error-type", EVENT["error_type"], "--message",
                                   EVENT["message"], "--service", EVENT["service"]],
                                  cwd=app_dir, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert reported.returncode == 0, reported.stderr
        database = f"sqlite:///{data_dir / 'medic.sqlite'}"
        wait_for(lambda: count_rows(database, "occurrences") == 1, timeout_s=30, what="the event stored")
        assert "unregistered task" not in run.output()
    finally:
        run.terminate()
