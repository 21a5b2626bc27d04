"""A plan's `signals:` section: what it does for events it has no work for (group signals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from workers.recovery.plans import PlanSpec, Signals, builtin_plan_paths, check_references, load_plans

BUILTIN = load_plans(builtin_plan_paths())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plans.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("plan, expected", [
    ("transient", {"spike": ("notify", "error")}),
    ("unrecognised", {"new": ("notify", "warning"), "regressed": ("notify", "warning"), "spike": ("notify", "error")}),
    ("rate-limited", {"spike": ("notify", "warning")}),
    ("resource-exhausted", {"new": ("notify", "error"), "regressed": ("notify", "error"),
                            "spike": ("escalate", "critical")}),
    ("needs-a-person", {"new": ("escalate", "critical"), "regressed": ("escalate", "critical")}),
    ("bad-request", {kind: ("notify", "warning") for kind in ("new", "regressed", "spike")}),
    ("bug", {kind: ("notify", "error") for kind in ("new", "regressed", "spike")}),
    ("default", {kind: ("notify", "warning") for kind in ("new", "regressed", "spike")}),
])
def test_builtin_plans_signal(plan, expected):
    spec = BUILTIN.get(plan)
    assert spec is not None
    signals = spec.group_signals
    found = {}
    for kind in signals.kinds:
        step = signals.of(kind)
        assert step is not None and step.channel == "log"
        found[kind] = (step.kind, step.level)
    assert found == expected


def test_a_plan_without_signals_signals_every_kind_by_its_first_notify_or_escalate_step():
    spec = PlanSpec.model_validate({"name": "p", "steps": [
        {"kind": "retry"}, {"kind": "escalate", "channel": "pager", "level": "error"}, {"kind": "notify"},
        {"kind": "dead_letter"}]})
    signals = spec.group_signals
    assert signals.kinds == {"new", "regressed", "spike"}
    for kind in ("new", "regressed", "spike"):
        step = signals.of(kind)
        assert step is not None and (step.kind, step.channel, step.level) == ("escalate", "pager", "error")


def test_a_plan_without_notify_or_escalate_and_one_with_empty_signals_signal_nothing():
    quiet = PlanSpec.model_validate({"name": "p", "steps": [{"kind": "retry"}, {"kind": "dead_letter"}]})
    assert quiet.group_signals.kinds == frozenset()
    silenced = PlanSpec.model_validate({"name": "p", "steps": [{"kind": "notify"}], "signals": {}})
    assert silenced.group_signals == Signals() and silenced.group_signals.kinds == frozenset()


def test_signal_defaults_are_those_of_the_step_kinds():
    spec = PlanSpec.model_validate({"name": "p", "steps": [{"kind": "notify"}],
                                    "signals": {"new": {"kind": "escalate"}, "spike": {"kind": "notify"}}})
    new, spike = spec.group_signals.new, spec.group_signals.spike
    assert new is not None and (new.kind, new.channel, new.level) == ("escalate", "log", "critical")
    assert spike is not None and (spike.kind, spike.level) == ("notify", "warning")
    assert spec.group_signals.regressed is None


def test_a_bad_signal_names_file_plan_and_field(tmp_path):
    path = write(tmp_path, """
plans:
  - name: catch-all
    match: {}
    steps: [{kind: notify}]
    signals:
      new: {kind: notify, level: loud}
""")
    with pytest.raises(ConfigError) as error:
        load_plans([path])
    assert "plan 'catch-all'" in str(error.value) and "signals.new.level" in str(error.value)
    path.write_text(path.read_text().replace("new: {kind: notify, level: loud}", "surge: {kind: notify}"))
    with pytest.raises(ConfigError, match="signals.surge"):
        load_plans([path])


def test_signal_channels_must_be_configured(tmp_path):
    path = write(tmp_path, """
plans:
  - name: catch-all
    match: {}
    steps: [{kind: notify}]
    signals:
      spike: {kind: escalate, channel: pager}
""")
    plans = load_plans([path])
    with pytest.raises(ConfigError, match=r"plan 'catch-all', signals.spike, field channel: 'pager' is not a "
                                          r"configured channel"):
        check_references(plans, channels=["log"], actions=[])
    check_references(plans, channels=["log", "pager"], actions=[])


def test_builtin_plans_reference_only_the_log_channel():
    check_references(BUILTIN, channels=["log"], actions=[])
