"""`medic errors resolve|reopen` (audited) and `medic maintenance run cleanup` as a user runs them."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest

from tests.support.services import medic_env, run_medic

pytestmark = pytest.mark.integration

SAMPLE = {"error_type": "KeyError", "message": "'customer_id'", "service": "billing"}


@pytest.fixture
def env(tmp_path):
    env = medic_env(data_dir=tmp_path / "data", cleanup__pause_between_batches_ms=0)
    assert run_medic(env, "db", "upgrade").returncode == 0
    stored = run_medic(env, "report", "-", "--direct", "--json", stdin=json.dumps(SAMPLE))
    assert stored.returncode == 0, stored.stderr
    return env


def audit_rows(tmp_path) -> list[tuple]:
    with closing(sqlite3.connect(tmp_path / "data" / "medic.sqlite")) as db:
        return db.execute("SELECT execution_id, actor, action, from_state, to_state, reason, detail "
                          "FROM execution_audit WHERE action LIKE 'group_%' ORDER BY id").fetchall()


def test_resolve_and_reopen_a_group_audited(env, tmp_path):
    [group] = json.loads(run_medic(env, "errors", "list", "--json").stdout)
    assert group["status"] == "open"
    resolved = run_medic({**env, "USER": "alice"}, "errors", "resolve", str(group["id"]), "--reason", "fixed in 2.3",
                         "--json")
    assert resolved.returncode == 0, resolved.stderr
    assert json.loads(resolved.stdout) == {"id": group["id"], "status": "resolved", "previous": "open"}
    assert [g["id"] for g in json.loads(run_medic(env, "errors", "list", "--status", "resolved",
                                                  "--json").stdout)] == [group["id"]]
    again = run_medic(env, "errors", "resolve", str(group["id"]))
    assert again.returncode == 0 and "already" in again.stdout
    assert run_medic({**env, "USER": "bob"}, "errors", "reopen", str(group["id"])).returncode == 0
    assert json.loads(run_medic(env, "errors", "show", str(group["id"]), "--json").stdout)["status"] == "open"
    assert audit_rows(tmp_path) == [
        (None, "operator:alice", "group_resolved", "open", "resolved", "fixed in 2.3",
         json.dumps({"group_id": group["id"]})),
        (None, "operator:bob", "group_open", "resolved", "open", None, json.dumps({"group_id": group["id"]})),
    ]


def test_errors_list_searches_and_filters_by_severity(env):
    [group] = json.loads(run_medic(env, "errors", "list", "--search", "KEYERR", "--json").stdout)
    assert json.loads(run_medic(env, "errors", "list", "--search", "nothing like it", "--json").stdout) == []
    same = json.loads(run_medic(env, "errors", "list", "--severity", group["severity"], "--json").stdout)
    assert [g["id"] for g in same] == [group["id"]]
    bad = run_medic(env, "errors", "list", "--severity", "urgent")
    assert bad.returncode == 2 and "urgent" in bad.stderr


def test_resolving_an_unknown_group_names_it(env):
    result = run_medic(env, "errors", "resolve", "999")
    assert result.returncode != 0 and "999" in result.stderr and "Traceback" not in result.stderr


def test_maintenance_run_cleanup_dry_run_and_run(env):
    queued = run_medic(env, "report", "-", stdin=json.dumps(SAMPLE))  # through the embedded broker: a waiting row
    assert queued.returncode == 0, queued.stderr
    dry = run_medic(env, "maintenance", "run", "cleanup", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    run = json.loads(dry.stdout)
    assert run["status"] == "succeeded" and run["summary"] == "dry run: nothing past retention"
    assert run["counts"]["groups"] == 0 and run["counts"]["broker_messages"] == 0  # waiting messages are never pruned
    real = run_medic(env, "maintenance", "run", "cleanup", "--json")
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["summary"] == "nothing past retention"
