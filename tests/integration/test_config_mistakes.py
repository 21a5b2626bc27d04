"""Configuration mistakes a new user makes do not pass silently: `medic config check` loads the plans as a
worker does, misspelt MEDIC_* variables are warned about, bad JSON in a variable names the variable."""

from __future__ import annotations

import pytest

from tests.support.services import medic_env, run_medic_side_by_side

pytestmark = pytest.mark.integration

TYPO = "MEDIC_DATABSE_URL"
TYPO_WARNING = f"medic: warning: {TYPO} is not a medic setting and is ignored; did you mean MEDIC_DATABASE_URL?"


@pytest.fixture
def env(tmp_path):
    return medic_env(data_dir=tmp_path / "data")


def test_config_check_checks_the_plans_files_as_a_worker_does(env, tmp_path):
    bad_yaml = tmp_path / "bad-yaml.yaml"
    bad_yaml.write_text("plans: [\n")
    bad_kind = tmp_path / "bad-kind.yaml"
    bad_kind.write_text("plans:\n  - name: odd\n    steps: [{kind: pray}]\n")
    no_channel = tmp_path / "no-channel.yaml"
    no_channel.write_text("plans:\n  - name: loud\n    match: {category: auth}\n"
                          "    steps: [{kind: notify, channel: pager, level: error}]\n")
    missing = tmp_path / "missing.yaml"
    ok, *failed = run_medic_side_by_side(env, ("config", "check"),
                                         *(({"MEDIC_PLANS_FILES": str(path)}, "config", "check")
                                           for path in (missing, bad_yaml, bad_kind, no_channel)), workers=2)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("configuration ok:") and " plans" in ok.stdout and not ok.stderr
    for result, path, says in zip(failed, (missing, bad_yaml, bad_kind, no_channel),
                                  ("", "YAML", "pray", "pager"), strict=True):
        assert result.returncode == 3, (path.name, result.stdout, result.stderr)
        assert path.name in result.stderr and says in result.stderr, result.stderr
        assert "configuration ok" not in result.stdout and "Traceback" not in result.stderr


def test_an_unknown_variable_is_warned_about_once_and_the_command_goes_on(env):
    shown, checked, both = run_medic_side_by_side(
        env, ({TYPO: "postgresql://x/y"}, "config", "show", "--json"),
        ({TYPO: "postgresql://x/y"}, "config", "check"),
        ({TYPO: "x", "MEDIC_CHANNELS": '{"ops": 1 "x": 2}'}, "config", "show"), workers=2)
    assert shown.returncode == 0 and shown.stdout.startswith("{")
    assert shown.stderr.splitlines() == [TYPO_WARNING]
    assert checked.returncode == 0, checked.stderr  # a warning, not a failure
    assert checked.stderr.splitlines() == [TYPO_WARNING]
    assert TYPO in checked.stdout and "configuration ok" in checked.stdout
    # the warning comes first, even when the settings then cannot be loaded
    assert both.returncode == 3 and both.stderr.splitlines()[0] == TYPO_WARNING


def test_bad_json_in_a_variable_names_the_variable_without_a_traceback(env):
    top, nested = run_medic_side_by_side(
        env, ({"MEDIC_CHANNELS": '{"ops": 1 "x": 2}'}, "config", "check"),
        ({"MEDIC_SERVE__TOKENS": '{"grafana": {"token": "s3cret-s3cret-s3cret-s3cret"'}, "config", "show"), workers=2)
    assert top.returncode == 3 and nested.returncode == 3
    assert top.stderr == ("medic: invalid configuration:\n"
                          "  MEDIC_CHANNELS: not valid JSON: Expecting ',' delimiter at line 1 column 11\n")
    assert "MEDIC_SERVE__TOKENS: not valid JSON: Expecting ',' delimiter" in nested.stderr
    assert "s3cret" not in nested.stderr and "Traceback" not in nested.stderr
