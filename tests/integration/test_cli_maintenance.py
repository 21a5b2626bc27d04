"""`medic maintenance list|run|runs` as an operator runs them, on SQLite and PostgreSQL.

Independent commands run side by side: each spends about a second importing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from config.jobs.schedule import DEFAULT_SCHEDULES
from tests.support.services import medic_env, run_medic, run_medic_side_by_side
from workers.maintenance.runner import lease_name
from workers.storage import leases
from workers.storage.db import session_factory

pytestmark = pytest.mark.integration

JOB = "db-maintenance"


@pytest.fixture
def env(database_url, tmp_path):
    return medic_env(database_url=database_url, data_dir=tmp_path / "data", log_format="text")


def test_list_run_and_runs(env):
    before = run_medic(env, "maintenance", "list", "--json")
    assert before.returncode == 0, before.stderr
    rows = json.loads(before.stdout)
    assert [row["job"] for row in rows] == [*DEFAULT_SCHEDULES, "recovery-sweep"]
    for row in rows:
        assert set(row) == {"job", "description", "enabled", "schedule", "soft_time_limit_s", "time_limit_s",
                            "last_run"}
        assert row["enabled"] is True and row["last_run"] is None
    by_job = {row["job"]: row for row in rows}
    assert by_job["stuck"]["schedule"] == "every 60s"
    assert (by_job["backup"]["schedule"], by_job["backup"]["time_limit_s"]) == ("cron 30 2 * * *", 3600)
    assert by_job["recovery-sweep"]["schedule"] == "every 2s"

    ran = run_medic(env, "maintenance", "run", JOB)
    assert ran.returncode == 0, ran.stderr
    assert "status    succeeded" in ran.stdout

    listed, history = run_medic_side_by_side(env, ("maintenance", "list", "--json"),
                                             ("maintenance", "runs", "--job", JOB, "--json"))
    last = {row["job"]: row for row in json.loads(listed.stdout)}[JOB]["last_run"]
    assert last["status"] == "succeeded" and last["trigger"] == "cli" and last["duration_s"] >= 0
    (run,) = json.loads(history.stdout)
    assert run == last
    assert set(run) == {"id", "job", "trigger", "host", "status", "started_at", "finished_at", "duration_s", "counts",
                        "summary", "error"}
    assert datetime.fromisoformat(run["finished_at"]) >= datetime.fromisoformat(run["started_at"])


def test_a_skipped_run_exits_1_and_is_recorded(env, database_url):
    with session_factory(database_url)() as session:
        assert leases.acquire(session, lease_name(JOB), "beat-worker:1:abc", now=datetime.now(UTC), ttl_s=600)
    skipped = run_medic(env, "maintenance", "run", JOB, "--json")
    assert skipped.returncode == 1, skipped.stderr
    result = json.loads(skipped.stdout)
    assert (result["status"], result["trigger"]) == ("skipped", "cli")
    assert result["summary"] == "skipped: the previous run still holds the lock"
    (recorded,) = json.loads(run_medic(env, "maintenance", "runs", "--json").stdout)
    assert recorded == result


def test_usage_errors_and_a_disabled_job(tmp_path, sqlite_url):
    env = medic_env(database_url=sqlite_url, data_dir=tmp_path / "data", log_format="text")
    disabled, unknown, dry, bad_filter, bad_setting = run_medic_side_by_side(
        env,
        ({"MEDIC_MAINTENANCE_JOBS": '{"backup": {"enabled": false}}'}, "maintenance", "list"),
        ("maintenance", "run", "vacuum"),
        ("maintenance", "run", JOB, "--dry-run"),
        ("maintenance", "runs", "--job", "vacuum"),
        ({"MEDIC_MAINTENANCE_JOBS": '{"backup": {"crontab": "0 25 * * *"}}'}, "maintenance", "list"), workers=5)

    assert disabled.returncode == 0, disabled.stderr
    table = {line.split()[0]: line for line in disabled.stdout.splitlines()[1:]}
    assert "disabled (cron 30 2 * * *)" in table["backup"] and "never run" in table["backup"]
    assert "disabled" not in table["stuck"] and "never run" not in table["recovery-sweep"]

    assert unknown.returncode == 4 and unknown.stdout == ""
    assert ("no maintenance job 'vacuum'; jobs: stuck, health, reconcile, log-rotation, cleanup, backup, "
            "db-maintenance") in unknown.stderr
    assert dry.returncode == 2 and f"job '{JOB}' has no dry run (jobs with one: stuck" in dry.stderr
    assert bad_filter.returncode == 4 and "no maintenance job 'vacuum'" in bad_filter.stderr
    assert bad_setting.returncode == 3
    assert "MEDIC_MAINTENANCE_JOBS: job 'backup': crontab: '0 25 * * *': hour '25'" in bad_setting.stderr
    assert "Traceback" not in bad_setting.stderr
