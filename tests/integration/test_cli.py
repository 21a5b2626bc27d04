"""The `medic` command as a user runs it: exit codes, --json output, messages that name the problem."""

from __future__ import annotations

import json

import pytest

from tests.support import services
from tests.support.services import medic_env, run_medic

pytestmark = pytest.mark.integration

SAMPLE = {"error_type": "ConnectionResetError", "message": "[Errno 104] Connection reset by peer", "service": "partner"}


@pytest.fixture
def env(tmp_path):
    return medic_env(data_dir=tmp_path / "data")


@pytest.fixture
def migrated(env):
    assert run_medic(env, "db", "upgrade").returncode == 0
    return env


def test_invalid_setting_exits_3_naming_it(env):
    result = run_medic({**env, "MEDIC_MAX_EVENT_BYTES": "lots"}, "stats")
    assert result.returncode == 3
    assert "MEDIC_MAX_EVENT_BYTES" in result.stderr and "Traceback" not in result.stderr


def test_invalid_rules_file_stops_the_worker_before_it_starts(env, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: broken\n    when: {message: '('}\n    category: network\n")
    result = run_medic({**env, "MEDIC_RULES_FILES": str(rules)}, "worker")
    assert result.returncode == 3
    assert "rules.yaml" in result.stderr and "broken" in result.stderr and "when.message" in result.stderr


def test_unmigrated_database_says_what_to_do(env):
    result = run_medic(env, "errors", "list")
    assert result.returncode == 3 and "medic db upgrade" in result.stderr


def test_report_direct_then_list_show_and_stats_as_json(migrated):
    stored = run_medic(migrated, "report", "-", "--direct", "--json", stdin=json.dumps(SAMPLE))
    assert stored.returncode == 0, stored.stderr
    [outcome] = json.loads(stored.stdout)
    assert outcome["status"] == "stored" and outcome["category"] == "network"
    [group] = json.loads(run_medic(migrated, "errors", "list", "--json").stdout)
    assert group["count"] == 1 and group["retryable"] is True and group["rule"]
    shown = json.loads(run_medic(migrated, "errors", "show", str(group["id"]), "--json").stdout)
    assert shown["occurrences"][0]["event"]["message"] == SAMPLE["message"]
    assert json.loads(run_medic(migrated, "stats", "--json").stdout)["by_category"]["network"]["occurrences"] == 1
    assert "partner" in run_medic(migrated, "errors", "list").stdout


def test_report_direct_starts_the_recovery_of_an_event_with_a_target(migrated):
    env = {**migrated, "MEDIC_REPLAY_TARGETS__CELERY_TASKS": "shop.*", "MEDIC_REPLAY_TARGETS__CELERY_QUEUES": "shop"}
    event = {**SAMPLE, "replay": {"kind": "celery", "task": "shop.sync_order", "args": [7], "queue": "shop"}}
    stored = run_medic(env, "report", "-", "--direct", "--json", stdin=json.dumps(event))
    assert stored.returncode == 0, stored.stderr
    [outcome] = json.loads(stored.stdout)
    [execution] = json.loads(run_medic(env, "executions", "list", "--json").stdout)
    assert execution["plan"] == "transient" and execution["state"] in ("pending", "running")
    assert outcome["occurrence_id"] == execution["occurrence_id"]


def test_report_spool_sends_what_report_exception_kept_and_empties_it(migrated, tmp_path):
    spool = tmp_path / "medic-spool.jsonl"
    second = {**SAMPLE, "message": "[Errno 104] Connection reset by peer (again)"}
    spool.write_text(json.dumps(SAMPLE) + "\n{cut short by a crash\n" + json.dumps(second) + "\n")
    result = run_medic(migrated, "report", "--spool", str(spool), "--direct", "--json")
    assert result.returncode == 2, result.stderr  # one line was not an event
    assert [o["status"] for o in json.loads(result.stdout)] == ["stored", "invalid", "stored"]
    assert not spool.exists() and "medic-spool.jsonl.invalid" in result.stderr
    assert (tmp_path / "medic-spool.jsonl.invalid").read_text() == "{cut short by a crash\n"
    assert json.loads(run_medic(migrated, "stats", "--json").stdout)["occurrences"] == 2
    nothing = run_medic(migrated, "report", "--spool", str(spool))
    assert nothing.returncode == 0 and "nothing spooled" in nothing.stderr


def test_report_spool_keeps_every_event_when_the_broker_is_down(migrated, tmp_path):
    spool = tmp_path / "medic-spool.jsonl"
    lines = json.dumps(SAMPLE) + "\n" + json.dumps({**SAMPLE, "service": "billing"}) + "\n"
    spool.write_text(lines)
    result = run_medic({**migrated, "MEDIC_BROKER_URL": "redis://127.0.0.1:1/0"}, "report", "--spool", str(spool))
    assert result.returncode == 5 and "Traceback" not in result.stderr
    assert [json.loads(line) for line in spool.read_text().splitlines()] == [json.loads(x) for x in lines.splitlines()]


def test_unknown_id_exits_4(migrated):
    result = run_medic(migrated, "errors", "show", "12345")
    assert result.returncode == 4 and "12345" in result.stderr


def test_invalid_events_exit_2_and_are_not_sent(migrated):
    lines = json.dumps(SAMPLE) + "\n{not json\n" + json.dumps({"message": "x"}) + "\n"
    result = run_medic(migrated, "report", "-", "--direct", "--json", stdin=lines)
    assert result.returncode == 2
    statuses = [o["status"] for o in json.loads(result.stdout)]
    assert statuses == ["stored", "invalid", "invalid"]
    assert json.loads(run_medic(migrated, "stats", "--json").stdout)["occurrences"] == 1


def test_flags_need_the_required_fields(migrated):
    result = run_medic(migrated, "report", "--message", "boom")
    assert result.returncode == 2 and "--error-type" in result.stderr and "--service" in result.stderr


def test_classify_writes_one_line_per_event_and_flags_invalid_lines(env):
    result = run_medic(env, "classify", stdin=json.dumps(SAMPLE) + "\n[]\n")
    assert result.returncode == 2
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert set(first) == {"category", "severity", "retryable", "confidence", "rule"}
    assert first["category"] == "network" and "error" in second


def test_classify_check_exits_1_on_a_mismatch(env):
    case = {"id": "c1", "event": SAMPLE, "accept": ["auth"], "retryable": None}
    result = run_medic(env, "classify", "--check", stdin=json.dumps(case) + "\n")
    assert result.returncode == 1 and "mismatch" in result.stdout


def test_config_show_masks_credentials(env):
    result = run_medic({**env, "MEDIC_DATABASE_URL": "postgresql://medic:s3cret@db/medic"}, "config", "show", "--json")
    assert result.returncode == 0
    assert "s3cret" not in result.stdout and json.loads(result.stdout)["database_url"].startswith("postgresql+psycopg://medic:***@")


def test_configuration_reference_is_up_to_date(env):
    generated = run_medic(env, "config", "docs").stdout
    assert (services.REPO / "docs" / "configuration.md").read_text() == generated, \
        "run: medic config docs > docs/configuration.md"


def test_db_current_reports_the_revision(migrated):
    state = json.loads(run_medic(migrated, "db", "current", "--json").stdout)
    assert state["up_to_date"] is True and state["current"] == state["head"]
