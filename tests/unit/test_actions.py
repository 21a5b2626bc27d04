"""Unit tests for workers.recovery.actions: the registry, plugin outcomes, entry-point loading."""

from __future__ import annotations

import logging
import sys
import textwrap

import pytest

from workers.recovery.actions import (
    ENTRY_POINT_GROUP,
    MAX_RESULT_CHARS,
    ActionContext,
    ActionFailed,
    ActionRegistry,
    check_installed,
)
from workers.recovery.builtin_actions import log_action, noop_action

CONTEXT = ActionContext(execution_id=7, attempt_id=70, attempt_number=2, event={"service": "github"},
                        params={"message": "hello"})


class _Stop(Exception):
    """Stands in for the task layer's soft time limit."""


def _raises(exc: BaseException):
    def action(context):
        raise exc
    return action


def _returns(value):
    return lambda context: value


# ----------------------------------------------------------------------------- run


@pytest.mark.parametrize(
    ("action", "outcome", "error", "retry_after_s"),
    [
        (noop_action, "success", None, None),
        (_returns({"ok": True}), "success", None, None),
        (_raises(ActionFailed("partner busy")), "retryable", "partner busy", None),
        (_raises(ActionFailed("partner busy", retry_after_s=30)), "retryable", "partner busy", 30.0),
        (_raises(ActionFailed("in the past", retry_after_s=-3)), "retryable", "in the past", 0.0),
        (_raises(ActionFailed("account closed", retryable=False)), "permanent", "account closed", None),
        (_raises(KeyError("order_id")), "retryable", "KeyError: 'order_id'", None),
        (_raises(RuntimeError("boom")), "retryable", "RuntimeError: boom", None),
        (_raises(ActionFailed("password=hunter2", retryable=False)), "permanent", "password=***", None),
        (_raises(ValueError("token: abc123")), "retryable", "ValueError: token: ***", None),
    ],
)
def test_run_outcomes(action, outcome, error, retry_after_s):
    result = ActionRegistry({"act": action}).run("act", CONTEXT)
    assert (result.outcome, result.error, result.retry_after_s) == (outcome, error, retry_after_s)
    assert result.detail["action"] == "act"


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (None, {}),
        ({"ok": True, "n": 3}, {"result": {"ok": True, "n": 3}}),
        ([1, "two"], {"result": [1, "two"]}),
        ((1, 2), {"result": [1, 2]}),
        ("done", {"result": "done"}),
        ({"api_key": "k-123", "note": "password=hunter2"}, {"result": {"api_key": "***", "note": "password=***"}}),
        (object(), {"result_type": "object"}),
        ({"x": float("nan")}, {"result_type": "dict"}),
        ({1, 2}, {"result_type": "set"}),
    ],
)
def test_success_detail_keeps_json_results_masked(value, detail):
    result = ActionRegistry({"act": _returns(value)}).run("act", CONTEXT)
    assert result.outcome == "success"
    assert {k: v for k, v in result.detail.items() if k != "action"} == detail


def test_a_long_result_is_truncated_json_text():
    result = ActionRegistry({"act": _returns({"data": "x" * 10_000, "token": "t"})}).run("act", CONTEXT)
    assert result.detail["result_truncated"] is True
    assert isinstance(result.detail["result"], str) and len(result.detail["result"]) == MAX_RESULT_CHARS


def test_a_plugin_bug_is_logged_with_ids(caplog):
    with caplog.at_level(logging.WARNING, logger="medic.actions"):
        ActionRegistry({"act": _raises(RuntimeError("boom"))}).run("act", CONTEXT)
    record = caplog.records[-1]
    assert (record.action, record.execution_id, record.attempt_id) == ("act", 7, 70)
    assert record.exc_info is not None


def test_propagated_exceptions_pass_through():
    registry = ActionRegistry({"act": _raises(_Stop())}, propagate=(_Stop,))
    with pytest.raises(_Stop):
        registry.run("act", CONTEXT)


def test_base_exceptions_are_not_swallowed():
    with pytest.raises(KeyboardInterrupt):
        ActionRegistry({"act": _raises(KeyboardInterrupt())}).run("act", CONTEXT)


def test_the_plugin_gets_the_context():
    seen = []
    ActionRegistry({"act": seen.append}).run("act", CONTEXT)
    assert seen == [CONTEXT]


def test_an_unknown_action_is_permanent_and_lists_the_installed_ones():
    result = ActionRegistry({"b": noop_action, "a": noop_action}).run("nope", CONTEXT)
    assert result.outcome == "permanent"
    assert result.error == ("no action named 'nope' is installed (entry point group medic.actions); "
                            "installed: a, b")


def test_an_empty_registry_says_none_is_installed():
    assert ActionRegistry().run("nope", CONTEXT).error.endswith("installed: none")


def test_names_and_get():
    registry = ActionRegistry({"b": noop_action, "a": log_action})
    assert registry.names() == ["a", "b"]
    assert registry.get("a") is log_action and registry.get("zzz") is None
    assert registry.problems() == []


@pytest.mark.parametrize(
    ("wanted", "missing"),
    [([], []), (["log", "noop"], []), (["log", "page", "page", "mail"], ["page", "mail"])],
)
def test_check_installed(wanted, missing):
    messages = check_installed(wanted, ActionRegistry({"log": log_action, "noop": noop_action}))
    assert len(messages) == len(missing)
    for name, message in zip(missing, messages, strict=True):
        assert message.startswith(f"no action named {name!r} is installed") and "installed: log, noop" in message


# ----------------------------------------------------------------------------- built-ins


def test_log_action_logs_the_masked_message_with_ids(caplog):
    context = ActionContext(1, 2, 3, event={}, params={"message": "paging on-call, token=abc"})
    with caplog.at_level(logging.INFO, logger="medic.actions"):
        assert ActionRegistry({"log": log_action}).run("log", context).outcome == "success"
    record = caplog.records[-1]
    assert record.getMessage() == "paging on-call, token=***"
    assert (record.execution_id, record.attempt_id, record.attempt_number) == (1, 2, 3)


def test_log_action_without_a_message_still_succeeds(caplog):
    with caplog.at_level(logging.INFO, logger="medic.actions"):
        assert log_action(ActionContext(1, 2, 3, event={}, params={})) is None
    assert caplog.records[-1].getMessage() == "log action"


# ----------------------------------------------------------------------------- entry points


MODULE = "medic_fake_plugin_mod"


def _distribution(root, name: str, entry_points: str) -> None:
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{textwrap.dedent(entry_points)}")


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """Two fake distributions on sys.path: good, broken, non-callable and clashing entry points."""
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent("""
        NOT_CALLABLE = 42

        def echo(context):
            return {"params": context.params}

        def other(context):
            return "other"
    """))
    _distribution(tmp_path, "fake-plugin", f"""
        fake_echo = {MODULE}:echo
        fake_broken = medic_no_such_module_xyz:run
        fake_constant = {MODULE}:NOT_CALLABLE
        fake_builtin_noop = workers.recovery.builtin_actions:noop_action
        fake_clash = {MODULE}:echo
    """)
    _distribution(tmp_path, "other-fake-plugin", f"fake_clash = {MODULE}:other\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop(MODULE, None)


def _fake_problems(registry: ActionRegistry) -> list[str]:
    return [problem for problem in registry.problems() if "fake" in problem]


def test_entry_points_are_found_and_run(plugins):
    registry = ActionRegistry.from_entry_points()
    assert {"fake_echo", "fake_builtin_noop", "fake_clash"} <= set(registry.names())
    result = registry.run("fake_echo", CONTEXT)
    assert (result.outcome, result.detail["result"]) == ("success", {"params": {"message": "hello"}})
    assert registry.run("fake_builtin_noop", CONTEXT).outcome == "success"


def test_a_broken_entry_point_is_a_problem_not_an_error(plugins):
    registry = ActionRegistry.from_entry_points()
    problems = _fake_problems(registry)
    broken = [problem for problem in problems if "'fake_broken'" in problem]
    assert len(broken) == 1
    assert "fake-plugin 1.0" in broken[0] and "ModuleNotFoundError" in broken[0]
    assert "fake_broken" not in registry.names()


def test_an_unloadable_action_says_why_when_run(plugins):
    result = ActionRegistry.from_entry_points().run("fake_broken", CONTEXT)
    assert result.outcome == "permanent"
    assert "no action named 'fake_broken'" in result.error and "ModuleNotFoundError" in result.error


def test_a_non_callable_entry_point_is_a_problem(plugins):
    registry = ActionRegistry.from_entry_points()
    assert any("'fake_constant'" in problem and "not callable" in problem for problem in registry.problems())
    assert "fake_constant" not in registry.names()


def test_a_name_registered_twice_keeps_one_and_reports_the_other(plugins):
    registry = ActionRegistry.from_entry_points()
    clashes = [problem for problem in registry.problems() if "'fake_clash'" in problem]
    assert len(clashes) == 1 and "already taken" in clashes[0]
    assert registry.run("fake_clash", CONTEXT).outcome == "success"


def test_another_group_is_not_read(plugins):
    registry = ActionRegistry.from_entry_points(group="medic.nothing_here")
    assert registry.names() == [] and registry.problems() == []
