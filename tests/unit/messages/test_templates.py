"""Placeholder substitution: only whitelisted names, values never interpreted, plain formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from workers.messages.templates import MAX_VALUE_CHARS, format_value, render, substitute, template_problems


@pytest.mark.parametrize("value", ["{secret}", "{0.__class__}", "{service}", "{{x}}", "{}", "%(x)s", "${HOME}"])
def test_values_are_inserted_literally(value):
    assert render("a {service} b", {"service": value}, lambda name: "?") == f"a {value} b"


def test_a_value_is_never_used_as_a_template():
    values = {"service": "{operation}", "operation": "secret"}
    assert render("{service}/{operation}", values, lambda name: "?") == "{operation}/secret"


def test_objects_are_not_introspected():
    class Sneaky:
        secret = "hidden"

        def __str__(self):
            return "{0.secret}"
    assert render("{service}", {"service": Sneaky()}, lambda name: "?") == "{0.secret}"


def test_none_and_absent_values_read_as_the_missing_phrase():
    assert render("{plan_name} {service}", {"plan_name": None},
                  lambda name: f"<no {name}>") == "<no plan_name> <no service>"


def test_escaped_braces_and_unknown_names_are_left_alone():
    assert substitute("{{a}} {b} {c}", {"b": "B"}) == "{a} B {c}"


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), (17, "17"), (0.92, "0.92"), (0.8500000001, "0.85"),
    (1e20, "100000000000000000000"),
    (2.0, "2"), (-0.0001, "0"), (float("nan"), "nan"),
    (datetime(2026, 1, 2, 3, 4, 59, tzinfo=UTC), "2026-01-02T03:04Z"),
    (datetime(2026, 1, 2, 5, 4, tzinfo=timezone(timedelta(hours=2))), "2026-01-02T03:04Z"),
    (datetime(2026, 1, 2, 3, 4), "2026-01-02T03:04Z"),  # naive: taken as UTC
    ("line one\nline\ttwo\x00", "line one line two"),
])
def test_values_are_formatted_plainly(value, text):
    assert format_value(value) == text


def test_long_values_are_cut():
    text = format_value("x" * 1000)
    assert len(text) == MAX_VALUE_CHARS and text.endswith("…")


@pytest.mark.parametrize(("template", "problems"), [
    ("{a} and {b}", []),
    ("{{not a placeholder}}", []),
    ("{c}", ["unknown placeholder {c}; allowed here: a, b"]),
    ("{a.__class__}", ["unknown placeholder {a.__class__}; allowed here: a, b"]),
    ("{a[0]}", ["unknown placeholder {a[0]}; allowed here: a, b"]),
    ("{a:>10}", ["unknown placeholder {a:>10}; allowed here: a, b"]),
    ("{}", ["unknown placeholder {}; allowed here: a, b"]),
    ("a } b", ["unmatched '}' at character 3 (write }} for a literal brace)"]),
])
def test_template_problems(template, problems):
    assert template_problems(template, {"a", "b"}) == problems
