"""Plans as data: loading, merging, selection, and errors that name the file, plan and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from workers.classification.taxonomy import BUILTIN_CATEGORIES
from workers.recovery.plans import builtin_plan_paths, check_references, load_plans

BUILTIN = load_plans(builtin_plan_paths())
NON_RETRYABLE = ["auth", "validation", "not_found", "data", "configuration", "internal"]


def write(tmp_path: Path, text: str, name: str = "plans.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("category, expected", [
    ("network", "transient"), ("timeout", "transient"), ("unavailable", "transient"), ("conflict", "transient"),
    ("rate_limit", "rate-limited"), ("resource", "resource-exhausted"), ("auth", "needs-a-person"),
    ("configuration", "needs-a-person"), ("validation", "bad-request"), ("not_found", "bad-request"),
    ("data", "bad-request"), ("internal", "bug"), ("unknown", "unrecognised"), ("a_new_category", "default"),
])
def test_builtin_selection(category, expected):
    assert BUILTIN.select({"service": "s"}, category, "medium").name == expected


@pytest.mark.parametrize("category", NON_RETRYABLE)
def test_non_retryable_categories_never_replay_by_default(category):
    steps = [step.kind for step in BUILTIN.select({"service": "s"}, category, "high").steps]
    assert "retry" not in steps
    assert steps[-1] == "dead_letter" and ({"notify", "escalate"} & set(steps))


@pytest.mark.parametrize("category", ["validation", "not_found", "data"])
def test_permanent_errors_with_a_fallback_run_it_so_the_app_learns_and_still_end_dead(category):
    steps = [step.kind for step in BUILTIN.select({"service": "s"}, category, "high").steps]
    assert steps.index("inform") < steps.index("dead_letter") and "fallback" not in steps
    assert BUILTIN.recoverable({"service": "s", "fallback": {"kind": "celery", "task": "t"}}, category, "high")


def test_every_builtin_category_has_a_plan():
    for name in BUILTIN_CATEGORIES:
        assert BUILTIN.select({"service": "s"}, name, "medium")


def test_more_specific_and_higher_priority_plans_win(tmp_path):
    user = write(tmp_path, """
plans:
  - name: github-network
    match: {category: network, service: "git*"}
    steps: [{kind: retry, max_attempts: 2}]
  - name: everything-critical
    priority: 90
    match: {severity: critical}
    steps: [{kind: escalate}]
""")
    plans = load_plans([*builtin_plan_paths(), user])
    assert plans.select({"service": "github"}, "network", "medium").name == "github-network"
    assert plans.select({"service": "gitlab"}, "timeout", "medium").name == "transient"
    assert plans.select({"service": "github"}, "network", "critical").name == "everything-critical"


def test_a_user_plan_replaces_and_disables_builtins(tmp_path):
    user = write(tmp_path, """
plans:
  - name: transient
    match: {category: network}
    steps: [{kind: dead_letter}]
  - {name: bug, enabled: false, steps: [{kind: dead_letter}]}
""")
    plans = load_plans([*builtin_plan_paths(), user])
    assert [s.kind for s in plans.select({"service": "s"}, "network", "low").steps] == ["dead_letter"]
    assert plans.select({"service": "s"}, "timeout", "low").name == "default"  # transient no longer covers it
    assert plans.select({"service": "s"}, "internal", "low").name == "default"


def test_breaker_settings_merge_per_service(tmp_path):
    user = write(tmp_path, "breakers: {services: {github: {failure_threshold: 2, recovery_timeout_s: 5}}}")
    plans = load_plans([*builtin_plan_paths(), user])
    assert plans.breaker_config("github").failure_threshold == 2
    assert plans.breaker_config("other").failure_threshold == 5


@pytest.mark.parametrize("text, expected", [
    ("plans: [{name: p, steps: [{kind: retry, max_attempts: 0}]}]",
     "plan 'p' (entry 1), step 1, field max_attempts: Input should be greater than or equal to 1"),
    ("plans: [{name: p, steps: [{kind: retry, jitter: some}]}]", "plan 'p' (entry 1), step 1, field jitter"),
    ("plans: [{name: p, steps: [{kind: teleport}]}]", "plan 'p' (entry 1), step 1"),
    ("plans: [{name: p, steps: []}]", "plan 'p' (entry 1), field steps"),
    ("plans: [{name: p, match: {colour: red}, steps: [{kind: dead_letter}]}]",
     "plan 'p' (entry 1), field match.colour"),
    ("plans: [{name: p, steps: [{kind: notify, level: loud}]}]", "step 1, field level"),
    ("plans: [{name: p, steps: [{kind: fallback, target: {kind: http, url: ftp://x}}]}]", "step 1, field target"),
    ("breakers: {default: {failure_threshold: 0}}", "breakers.default.failure_threshold"),
    ("plans: [{name: p, steps: [{kind: dead_letter}]}, {name: p, steps: [{kind: dead_letter}]}]", "defined twice"),
    ("plans: [", "not valid YAML"),
])
def test_invalid_plans_name_the_file_plan_and_field(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_plans([*builtin_plan_paths(), path])
    assert str(path) in str(error.value) and expected in str(error.value)


def test_a_catch_all_plan_is_required(tmp_path):
    path = write(tmp_path, "plans: [{name: default, enabled: false, steps: [{kind: dead_letter}]}]")
    with pytest.raises(ConfigError, match="catch-all"):
        load_plans([*builtin_plan_paths(), path])


def test_references_to_channels_and_actions_are_checked(tmp_path):
    path = write(tmp_path, """
plans:
  - {name: a, match: {category: data}, steps: [{kind: notify, channel: pager}]}
  - {name: b, match: {category: auth}, steps: [{kind: action, name: reboot}]}
""")
    plans = load_plans([*builtin_plan_paths(), path])
    with pytest.raises(ConfigError, match=r"plan 'a', step 1, field channel: 'pager' is not a configured channel"):
        check_references(plans, channels=["log"], actions=["reboot"])
    with pytest.raises(ConfigError, match=r"plan 'b', step 1, field name: no action 'reboot' is installed"):
        check_references(plans, channels=["log", "pager"], actions=["noop"])
    check_references(plans, channels=["log", "pager"], actions=["reboot"])


def test_an_error_no_rule_understood_is_replayed_briefly_then_escalated():
    plan = BUILTIN.select({"service": "s"}, "unknown", "medium")
    retry = plan.steps[0]
    assert retry.kind == "retry" and retry.max_attempts <= 3 and retry.max_delay_s <= 60
    assert [step.kind for step in plan.steps[1:]] == ["fallback", "escalate", "dead_letter"]
